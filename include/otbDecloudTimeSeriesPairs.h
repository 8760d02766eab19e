/*
 * Decloud: the S1/S2 pairs of DecloudTimeSeriesPreProcessor (the original Decloud's app): which SAR and optical
 * images of two time series may be paired, in the order a pixel tries them.
 */
#ifndef otbDecloudTimeSeriesPairs_h
#define otbDecloudTimeSeriesPairs_h

#include "otbDecloudDate.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace otb
{
namespace decloud
{

/** How the optical images are ordered: by time ascending, descending, or by |t - reference| ascending. */
enum class PairSorting
{
  Ascending,
  Descending,
  AbsoluteGap
};

/** A candidate pair: indices in the SAR and optical lists. */
struct SyncPair
{
  unsigned int sar;
  unsigned int opt;
  bool operator==(const SyncPair& o) const { return sar == o.sar && opt == o.opt; }
};

/**
 * The candidate pairs, in the order each pixel tries them. The optical images are sorted by `sorting` (their
 * time ascending or descending, or |time - reference| ascending); for each optical image in that order, the SAR
 * images within `maxGap` of it (|tSAR - tOpt| <= maxGap, inclusive) follow, nearest first. Ties keep the order of
 * the input lists (stable sorts): two optical images at the same time or the same distance to the reference, or
 * two SAR images at the same distance to an optical image, come in the order they were given. Times in seconds.
 */
inline std::vector<SyncPair> CandidatePairs(const std::vector<double>& sarTimes, const std::vector<double>& optTimes,
                                            PairSorting sorting, double reference, double maxGap)
{
  std::vector<unsigned int> opt(optTimes.size());
  std::iota(opt.begin(), opt.end(), 0u);
  auto key = [&](unsigned int k) {
    switch (sorting)
    {
    case PairSorting::Descending:
      return -optTimes[k];
    case PairSorting::AbsoluteGap:
      return std::abs(optTimes[k] - reference);
    default:
      return optTimes[k];
    }
  };
  std::stable_sort(opt.begin(), opt.end(), [&](unsigned int a, unsigned int b) { return key(a) < key(b); });

  std::vector<SyncPair> pairs;
  for (unsigned int o : opt)
  {
    std::vector<unsigned int> sar;
    for (unsigned int s = 0; s < sarTimes.size(); ++s)
      if (std::abs(sarTimes[s] - optTimes[o]) <= maxGap)
        sar.push_back(s);
    std::stable_sort(sar.begin(), sar.end(), [&](unsigned int a, unsigned int b) {
      return std::abs(sarTimes[a] - optTimes[o]) < std::abs(sarTimes[b] - optTimes[o]);
    });
    for (unsigned int s : sar)
      pairs.push_back({s, o});
  }
  return pairs;
}

/**
 * A timestamp as the original Decloud takes it: a number of seconds since 1970-01-01 UTC ("1602561600",
 * "1602561600.0", "1.6025616e9"; Python's str(datetime.timestamp())); or, here also, a date YYYY-MM-DD with an
 * optional THH:MM[:SS] (UTC). Throws std::invalid_argument naming the text otherwise (the whole text must be read).
 */
inline double ParseTimestamp(const std::string& text)
{
  const auto first = text.find_first_not_of(" \t");
  const auto last = text.find_last_not_of(" \t");
  const std::string t = first == std::string::npos ? "" : text.substr(first, last - first + 1);
  if (t.size() >= 10 && t[4] == '-')
    return ParseDate(t);
  if (!t.empty())
  {
    errno = 0;
    char*        end = nullptr;
    const double value = std::strtod(t.c_str(), &end);
    if (end == t.c_str() + t.size() && errno == 0 && std::isfinite(value))
      return value;
  }
  throw std::invalid_argument("'" + text + "' is not a timestamp (seconds since 1970-01-01 UTC, e.g. 1602561600.0, "
                              "or a date YYYY-MM-DD[THH:MM:SS], UTC)");
}

} // namespace decloud
} // namespace otb

#endif
