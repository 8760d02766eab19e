/*
 * Decloud: holes (nodata) in the Sentinel-2 dates t, t-1, t+1, per pixel: which date has data, how each date is
 * completed before a network sees it, and where each output pixel comes from (its provenance).
 */
#ifndef otbDecloudHoles_h
#define otbDecloudHoles_h

#include "itkImageRegion.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace otb
{
namespace decloud
{

/** Where an output pixel of DecloudInfer comes from: the values of its provenance output (-outprov). */
enum Provenance : unsigned char
{
  ProvenanceNodata = 0,     ///< no S2 date has data at the pixel: the output is nodata
  ProvenanceKept = 1,       ///< a clear pixel of s2.t, kept bit for bit (with -mask)
  ProvenanceNetwork = 2,    ///< the network's estimate
  ProvenanceGapFilling = 3, ///< fallback: the gap-filling of t-1 and t+1 (only one of them has data there)
  ProvenanceSingleDate = 4  ///< fallback: the only date that has data there (s2.t)
};
constexpr unsigned int ProvenanceClasses = 5;

/** A pixel of `bands` values has data when none of them is the nodata value or NaN. */
template <class T>
inline bool HasData(const T* v, unsigned int bands, double nodata)
{
  const T n = static_cast<T>(nodata);
  for (unsigned int b = 0; b < bands; ++b)
    if (v[b] == n || std::isnan(static_cast<double>(v[b])))
      return false;
  return true;
}

/** Start of pixel `index` in the buffer of `image` (const or not; its buffered region must hold the pixel). */
template <class TImage>
inline auto BufferPointer(TImage* image, const itk::Index<2>& index, unsigned int components)
  -> decltype(image->GetBufferPointer())
{
  const auto& b = image->GetBufferedRegion();
  return image->GetBufferPointer() +
         (static_cast<size_t>(index[1] - b.GetIndex(1)) * b.GetSize(0) + static_cast<size_t>(index[0] - b.GetIndex(0))) *
           components;
}

/**
 * The holes rule for the S2 dates of a multi-temporal input (slots t, t-1, t+1; a model may take any of them),
 * at one pixel. A date "has data" where none of its bands is nodata or NaN (HasData).
 *
 * Completion (what a network that does not handle holes is fed), the gap-filling's rule:
 *  - a date keeps its own values where it has data;
 *  - a hole of t-1 takes t+1's value, a hole of t+1 takes t-1's value;
 *  - a hole of t takes the gap-filling of t-1 and t+1 at t: (1 - w) (t-1) + w (t+1), w = (t - t-1) / (t+1 - t-1)
 *    when the dates are given, 0.5 (their mean) otherwise; the one that has data when only one has;
 *  - a date that none of those completes takes the date that has data (t for t-1 and t+1);
 *  - where no date has data, every date takes the fill value (0: a neutral reflectance, as gfnet zeroes its
 *    holes), so that no nodata value ever reaches a convolution.
 *
 * Provenance (Plan): where no date has data, nodata; a clear pixel of t kept (with a cloud mask), kept; for
 * models that do not complete holes themselves, the network where at least two of its S2 dates have data
 * (one for a single-date model), else the gap-filling fallback where t-1 or t+1 has data, else the single
 * date (t); for models that complete holes themselves ("holes": "model"), the network where t-1 or t+1 has
 * data (its gap-filling base), else the single date.
 */
struct HolesRule
{
  enum Slot : unsigned int
  {
    T = 0,
    Tm1 = 1,
    Tp1 = 2,
    Slots = 3
  };

  double weight = 0.5; ///< weight of t+1 in the gap-filling at t
  double fill = 0.0;   ///< value of every date where no date has data

  /** Weight of t+1 in the gap-filling at t for dates in seconds (0.5 when t-1 is not before t+1). */
  static double WeightOfDates(double tm1, double t, double tp1)
  {
    return tp1 > tm1 ? std::min(1.0, std::max(0.0, (t - tm1) / (tp1 - tm1))) : 0.5;
  }

  /**
   * Slot `slot` completed at one pixel into `out` (`bands` values). `v[k]`: slot k's values (nullptr: not
   * given), `has[k]`: whether slot k has data there (false when not given).
   */
  template <class TIn, class TOut>
  void Complete(unsigned int slot, const TIn* const v[Slots], const bool has[Slots], TOut* out, unsigned int bands) const
  {
    auto copy = [&](const TIn* src) {
      for (unsigned int b = 0; b < bands; ++b)
        out[b] = static_cast<TOut>(src[b]);
    };
    if (has[slot])
      return copy(v[slot]);
    if (slot == T && has[Tm1] && has[Tp1])
    {
      for (unsigned int b = 0; b < bands; ++b)
      {
        const double before = static_cast<double>(v[Tm1][b]), after = static_cast<double>(v[Tp1][b]);
        out[b] = static_cast<TOut>(before + weight * (after - before));
      }
      return;
    }
    // t-1 from t+1, t+1 from t-1, t from whichever has data; then t for the others.
    const unsigned int order[Slots][2] = {{Tm1, Tp1}, {Tp1, T}, {Tm1, T}};
    for (unsigned int k : order[slot])
      if (has[k])
        return copy(v[k]);
    std::fill(out, out + bands, static_cast<TOut>(fill));
  }

  /**
   * Provenance of one pixel (see the class). `given[k]`: slot k is an input of the model; `tKept`: t has data
   * and its cloud weight is 0 (a clear pixel, kept); `modelFillsHoles`: the card's "holes": "model".
   */
  static Provenance Plan(const bool has[Slots], const bool given[Slots], bool tKept, bool modelFillsHoles)
  {
    unsigned int withData = 0, dates = 0;
    for (unsigned int k = 0; k < Slots; ++k)
    {
      withData += has[k] ? 1 : 0;
      dates += given[k] ? 1 : 0;
    }
    if (dates == 0)
      return ProvenanceNetwork; // no S2 date to judge from: the network everywhere
    if (withData == 0)
      return ProvenanceNodata;
    if (tKept)
      return ProvenanceKept;
    const bool base = has[Tm1] || has[Tp1]; // the gap-filling of t-1 and t+1 exists
    if (modelFillsHoles)
      return base ? ProvenanceNetwork : ProvenanceSingleDate;
    if (withData >= std::min(2u, dates))
      return ProvenanceNetwork;
    return base ? ProvenanceGapFilling : ProvenanceSingleDate;
  }
};

} // namespace decloud
} // namespace otb

#endif
