/*
 * Unit test of DecloudTimeSeriesPreProcessor's logic, in memory: decloud::CandidatePairs (the three sortings,
 * ties in input order, the inclusive gap), decloud::ParseTimestamp, and DecloudTimeSeriesPairsFilter (per pixel
 * the first pairs with data, nodata = all bands, NaN nodata, empty slots, an image in several pairs read once).
 */
#include "otbDecloudUnitTest.h"
#include "otbDecloudTimeSeriesPairs.h"
#include "otbDecloudTimeSeriesPairsFilter.h"
#include "otbVectorImage.h"

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace
{
using otb::decloud::PairSorting;
using otb::decloud::SyncPair;
using Image = otb::VectorImage<float, 2>;

using otb::decloud::unittest::Check;
using otb::decloud::unittest::CheckEqual;

std::string Text(const std::vector<SyncPair>& pairs)
{
  std::ostringstream s;
  for (const auto& p : pairs)
    s << "(" << p.sar << "," << p.opt << ")";
  return s.str();
}

void CheckPairs(const std::vector<SyncPair>& got, const std::vector<SyncPair>& expected, const std::string& what)
{
  Check(got == expected, what + ": got " + Text(got) + ", expected " + Text(expected));
}

void TestCandidatePairs()
{
  const double day = 86400.0;
  // Optical days 8, 3, 20, 8; SAR days 9, 4, 2, 7, 17, 30 (ties: 4 and 2 around 3, 9 and 7 around 8).
  std::vector<double> opt{8 * day, 3 * day, 20 * day, 8 * day};
  std::vector<double> sar{9 * day, 4 * day, 2 * day, 7 * day, 17 * day, 30 * day};
  CheckPairs(CandidatePairs(sar, opt, PairSorting::Ascending, 0, 3 * day),
             {{1, 1}, {2, 1}, {0, 0}, {3, 0}, {0, 3}, {3, 3}, {4, 2}}, "ascending (17 at exactly maxgap from 20)");
  CheckPairs(CandidatePairs(sar, opt, PairSorting::Descending, 0, 3 * day),
             {{4, 2}, {0, 0}, {3, 0}, {0, 3}, {3, 3}, {1, 1}, {2, 1}}, "descending (equal times in input order)");
  // Reference day 5.5: optical 8, 3 and 8 at 2.5 days (input order), 20 last.
  CheckPairs(CandidatePairs(sar, opt, PairSorting::AbsoluteGap, 5.5 * day, 3 * day),
             {{0, 0}, {3, 0}, {1, 1}, {2, 1}, {0, 3}, {3, 3}, {4, 2}}, "absolute gap");
  CheckPairs(CandidatePairs(sar, opt, PairSorting::Ascending, 0, 3 * day - 1), {{1, 1}, {2, 1}, {0, 0}, {3, 0}, {0, 3}, {3, 3}},
             "maxgap one second shorter");
  CheckPairs(CandidatePairs(sar, opt, PairSorting::Ascending, 0, 0), {}, "no pair");
  // Nearest first: SAR 7 (1 day) before SAR 4 (4 days) whatever their input order.
  CheckPairs(CandidatePairs({4 * day, 7 * day}, {8 * day}, PairSorting::Ascending, 0, 5 * day), {{1, 0}, {0, 0}},
             "nearest SAR first");
  // Unix times of today: double precision tells one second apart (float32 would not).
  CheckPairs(CandidatePairs({1654041600.0 + 1}, {1654041600.0}, PairSorting::Ascending, 0, 0.5), {}, "one second");
}

void TestParseTimestamp()
{
  Check(otb::decloud::ParseTimestamp("1602561600.0") == 1602561600.0, "seconds as str(float)");
  Check(otb::decloud::ParseTimestamp(" 1602561600 ") == 1602561600.0, "seconds with spaces");
  Check(otb::decloud::ParseTimestamp("1.6025616e9") == 1602561600.0, "seconds, exponent");
  Check(otb::decloud::ParseTimestamp("2020-10-13") == 1602547200.0, "date");
  Check(otb::decloud::ParseTimestamp("2020-10-13T04:00:00") == 1602561600.0, "date and time");
  for (const std::string bad : {"", "x", "1602561600abc", "nan", "inf", "2020-13-01"})
    try
    {
      otb::decloud::ParseTimestamp(bad);
      Check(false, "'" + bad + "' refused");
    }
    catch (const std::invalid_argument&)
    {
    }
}

Image::Pointer MakeImage(unsigned int bands, const std::vector<std::vector<float>>& pixels)
{
  return otb::decloud::unittest::MakeRowImage<Image>(bands, pixels);
}

std::vector<float> Pixel(Image* image, unsigned int x)
{
  return otb::decloud::unittest::RowPixel(image, x);
}

bool Same(const std::vector<float>& a, const std::vector<float>& b)
{
  if (a.size() != b.size())
    return false;
  for (size_t k = 0; k < a.size(); ++k)
    if (!(a[k] == b[k] || (std::isnan(a[k]) && std::isnan(b[k]))))
      return false;
  return true;
}

void TestFilter()
{
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float N = -10000; // optical nodata; SAR nodata 0
  // Four pixels. SAR a, b (2 bands); optical p, q (1 band).
  //   x=0: everything has data.            x=1: a has no data (0, 0); b has one band 0 (data).
  //   x=2: p has no data; q has.           x=3: nothing pairs (a, b no data).
  auto a = MakeImage(2, {{1, 1}, {0, 0}, {3, 3}, {0, 0}});
  auto b = MakeImage(2, {{2, 2}, {0, 5}, {4, 4}, {0, 0}});
  auto p = MakeImage(1, {{10}, {11}, {N}, {13}});
  auto q = MakeImage(1, {{20}, {21}, {22}, {23}});
  using Filter = otb::DecloudTimeSeriesPairsFilter<Image>;
  Filter::Pointer filter = Filter::New();
  filter->SetNumberOfSlots(3);
  filter->SetSarNodataValue(0);
  filter->SetOptNodataValue(N);
  // Pairs in order: (a, p), (b, p), (b, q).
  filter->PushBackPair(a, p);
  filter->PushBackPair(b, p);
  filter->PushBackPair(b, q);
  Check(filter->GetNumberOfIndexedInputs() == 4, "each image one input");
  Check(filter->GetNumberOfIndexedOutputs() == 6, "2 outputs per slot");
  for (unsigned int k = 0; k < 6; ++k)
    filter->GetOutput(k)->Update();
  auto sar = [&](unsigned int slot, unsigned int x) { return Pixel(filter->GetSarOutput(slot), x); };
  auto opt = [&](unsigned int slot, unsigned int x) { return Pixel(filter->GetOptOutput(slot), x); };
  Check(filter->GetSarOutput(0)->GetNumberOfComponentsPerPixel() == 2, "SAR outputs: 2 bands");
  Check(filter->GetOptOutput(2)->GetNumberOfComponentsPerPixel() == 1, "optical outputs: 1 band");
  // x=0: (a,p) (b,p) (b,q)
  Check(Same(sar(0, 0), {1, 1}) && Same(opt(0, 0), {10}), "x=0 slot 1");
  Check(Same(sar(1, 0), {2, 2}) && Same(opt(1, 0), {10}), "x=0 slot 2: the same optical image again");
  Check(Same(sar(2, 0), {2, 2}) && Same(opt(2, 0), {20}), "x=0 slot 3");
  // x=1: a has no data: (b,p) (b,q), slot 3 nodata.
  Check(Same(sar(0, 1), {0, 5}) && Same(opt(0, 1), {11}), "x=1 slot 1: one band at nodata is data");
  Check(Same(sar(1, 1), {0, 5}) && Same(opt(1, 1), {21}), "x=1 slot 2");
  Check(Same(sar(2, 1), {0, 0}) && Same(opt(2, 1), {N}), "x=1 slot 3 nodata");
  // x=2: p has no data: (b,q) only.
  Check(Same(sar(0, 2), {4, 4}) && Same(opt(0, 2), {22}), "x=2 slot 1");
  Check(Same(sar(1, 2), {0, 0}) && Same(opt(1, 2), {N}), "x=2 slot 2 nodata");
  // x=3: nothing.
  Check(Same(sar(0, 3), {0, 0}) && Same(opt(0, 3), {N}), "x=3 nodata");

  // NaN nodata: NaN pixels have no data; NaN in a pixel when nodata is not NaN is data, copied.
  auto s = MakeImage(1, {{nan}, {1}});
  auto s2 = MakeImage(1, {{7}, {8}});
  auto o = MakeImage(1, {{nan}, {5}});
  Filter::Pointer nanFilter = Filter::New();
  nanFilter->SetSarNodataValue(nan);
  nanFilter->SetOptNodataValue(0);
  nanFilter->PushBackPair(s, o);
  nanFilter->PushBackPair(s2, o);
  nanFilter->GetOutput(0)->Update();
  nanFilter->GetOutput(1)->Update();
  Check(Same(Pixel(nanFilter->GetSarOutput(0), 0), {7}) && Same(Pixel(nanFilter->GetOptOutput(0), 0), {nan}),
        "NaN SAR nodata skipped, NaN optical (nodata 0) copied");
  Check(Same(Pixel(nanFilter->GetSarOutput(0), 1), {1}) && Same(Pixel(nanFilter->GetOptOutput(0), 1), {5}), "NaN x=1");
}
} // namespace

int main()
{
  TestCandidatePairs();
  TestParseTimestamp();
  TestFilter();
  return otb::decloud::unittest::Finish();
}
