#ifndef otbDecloudGapFillingFilter_hxx
#define otbDecloudGapFillingFilter_hxx

#include "otbDecloudGapFillingFilter.h"
#include "otbDecloudHoles.h"
#include "otbDecloudNodataMetadata.h"

#include <algorithm>
#include <cmath>

namespace otb
{

template <class TImage>
void DecloudGapFillingFilter<TImage>::PushBackDate(const TImage* image, const TImage* cloudMask, double date)
{
  Date d{static_cast<unsigned int>(this->GetNumberOfIndexedInputs()), -1, date};
  this->SetNthInput(d.image, const_cast<TImage*>(image));
  if (cloudMask)
  {
    d.mask = static_cast<int>(this->GetNumberOfIndexedInputs());
    this->SetNthInput(d.mask, const_cast<TImage*>(cloudMask));
  }
  m_Dates.push_back(d);
  std::stable_sort(m_Dates.begin(), m_Dates.end(), [](const Date& a, const Date& b) { return a.date < b.date; });
  this->Modified();
}

template <class TImage>
void DecloudGapFillingFilter<TImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();
  if (m_Dates.empty())
    itkExceptionMacro("No dated image");
  const unsigned int bands = this->GetInput(m_Dates.front().image)->GetNumberOfComponentsPerPixel();
  for (const Date& d : m_Dates)
    if (this->GetInput(d.image)->GetNumberOfComponentsPerPixel() != bands)
      itkExceptionMacro("The dated images have different numbers of bands");
  this->GetOutput()->SetNumberOfComponentsPerPixel(bands);
  SetNodataMetadata(this->GetOutput(), m_NodataValue);
}

template <class TImage>
void DecloudGapFillingFilter<TImage>::ThreadedGenerateData(const RegionType& region, itk::ThreadIdType)
{
  using Value = typename TImage::InternalPixelType;
  TImage*            output = this->GetOutput();
  const size_t       bands = output->GetNumberOfComponentsPerPixel();
  const Value        nodata = static_cast<Value>(m_NodataValue);
  const size_t       n = m_Dates.size();
  const double       t = m_TargetDate;

  // Row pointers into each input's buffer (same grid: same buffered region layout per input).
  auto pointer = [&](unsigned int input, size_t x, size_t y, size_t components) {
    const TImage* image = this->GetInput(input);
    const auto&   buffered = image->GetBufferedRegion();
    return image->GetBufferPointer() +
           ((y - buffered.GetIndex(1)) * buffered.GetSize(0) + (x - buffered.GetIndex(0))) * components;
  };
  if (m_IoFloor)
  {
    // The I/O floor (benchmarks): a copy of the first image pushed (input 0), row by row.
    for (size_t y = region.GetIndex(1); y < region.GetIndex(1) + region.GetSize(1); ++y)
    {
      const Value* in = pointer(0, region.GetIndex(0), y, bands);
      Value*       out = output->GetBufferPointer() +
                   ((y - output->GetBufferedRegion().GetIndex(1)) * output->GetBufferedRegion().GetSize(0) +
                    (region.GetIndex(0) - output->GetBufferedRegion().GetIndex(0))) * bands;
      std::copy(in, in + region.GetSize(0) * bands, out);
    }
    return;
  }
  std::vector<size_t> maskBands(n, 0);
  for (size_t k = 0; k < n; ++k)
    if (m_Dates[k].mask >= 0)
      maskBands[k] = this->GetInput(m_Dates[k].mask)->GetNumberOfComponentsPerPixel();

  std::vector<const Value*> rows(n), maskRows(n);
  for (size_t y = region.GetIndex(1); y < region.GetIndex(1) + region.GetSize(1); ++y)
  {
    const size_t x0 = region.GetIndex(0);
    for (size_t k = 0; k < n; ++k)
    {
      rows[k] = pointer(m_Dates[k].image, x0, y, bands);
      maskRows[k] = m_Dates[k].mask >= 0 ? pointer(m_Dates[k].mask, x0, y, maskBands[k]) : nullptr;
    }
    Value* out = output->GetBufferPointer() +
                 ((y - output->GetBufferedRegion().GetIndex(1)) * output->GetBufferedRegion().GetSize(0) +
                  (x0 - output->GetBufferedRegion().GetIndex(0))) * bands;
    for (size_t x = 0; x < region.GetSize(0); ++x, out += bands)
    {
      // Dates with data at the pixel (no band nodata or NaN); the clear ones (mask 0) first, the cloudy ones
      // only where no date with data is clear.
      int before = -1, after = -1, beforeAny = -1, afterAny = -1;
      for (size_t k = 0; k < n && (after < 0 || afterAny < 0); ++k)
      {
        if (!decloud::HasData(rows[k] + x * bands, bands, m_NodataValue))
          continue;
        const bool clear = !maskRows[k] || maskRows[k][x * maskBands[k]] == 0;
        // Dates are sorted: the latest before t until the first at or after t is found.
        if (m_Dates[k].date <= t)
        {
          if (afterAny < 0)
            beforeAny = static_cast<int>(k);
          if (clear && after < 0)
            before = static_cast<int>(k);
        }
        if (m_Dates[k].date >= t)
        {
          if (afterAny < 0)
            afterAny = static_cast<int>(k);
          if (clear && after < 0)
            after = static_cast<int>(k);
        }
      }
      if (before < 0 && after < 0)
      {
        before = beforeAny;
        after = afterAny;
      }
      if (before < 0 && after < 0)
      {
        std::fill(out, out + bands, nodata);
        continue;
      }
      const Value* b = rows[before >= 0 ? before : after] + x * bands;
      const Value* a = rows[after >= 0 ? after : before] + x * bands;
      const double tb = m_Dates[before >= 0 ? before : after].date, ta = m_Dates[after >= 0 ? after : before].date;
      const double w = ta > tb ? (t - tb) / (ta - tb) : 0.0;
      for (size_t c = 0; c < bands; ++c)
      {
        const double v = static_cast<double>(b[c]) + w * (static_cast<double>(a[c]) - static_cast<double>(b[c]));
        out[c] = static_cast<Value>(m_Round ? std::floor(v + 0.5) : v);
      }
    }
  }
}

} // namespace otb
#endif
