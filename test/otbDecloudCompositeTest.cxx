/*
 * Unit test of DecloudComposite's logic, in memory: decloud::BestAvailableOrder (cloud share, then nearness to the
 * reference, then input order), decloud::CloudShare (of the pixels with data), and DecloudCompositeFilter (median:
 * odd and even counts, rounding; best available pixel; masks, nodata, NaN, nodata where nothing is valid).
 * test/python/test_composite_app.py runs the app against a numpy reference.
 */
#include "otbDecloudUnitTest.h"
#include "otbDecloudCompositeFilter.h"
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
using Image = otb::VectorImage<float, 2>;
using Filter = otb::DecloudCompositeFilter<Image>;
using otb::decloud::CompositeMode;

using otb::decloud::unittest::Check;
using otb::decloud::unittest::CheckEqual;

Image::Pointer MakeImage(unsigned int bands, const std::vector<std::vector<float>>& pixels)
{
  return otb::decloud::unittest::MakeRowImage<Image>(bands, pixels);
}

std::vector<float> Pixel(Image* image, unsigned int x)
{
  return otb::decloud::unittest::RowPixel(image, x);
}

std::string Text(const std::vector<float>& v)
{
  std::ostringstream s;
  for (float x : v)
    s << x << " ";
  return s.str();
}

void CheckPixel(Image* image, unsigned int x, const std::vector<float>& expected, const std::string& what)
{
  const auto got = Pixel(image, x);
  Check(got == expected, what + ": got " + Text(got) + ", expected " + Text(expected));
}

void TestOrder()
{
  const double day = 86400.0;
  // Shares 10, 5, 10, 5, 10; days 1, 20, 14, 10, 16; reference day 15.
  const auto order = otb::decloud::BestAvailableOrder({10, 5, 10, 5, 10}, {1 * day, 20 * day, 14 * day, 10 * day, 16 * day},
                                                      15 * day);
  Check(order == std::vector<unsigned int>({1, 3, 2, 4, 0}), "order: share, then nearness, then input order");
  Check(otb::decloud::BestAvailableOrder({0, 0, 0}, {0, 0, 0}, 0) == std::vector<unsigned int>({0, 1, 2}),
        "order: full ties in input order");
}

void TestCloudShare()
{
  const float N = -10000;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // 6 pixels: 1 nodata (cloudy mask: not counted), 1 NaN, 4 with data of which 1 cloudy (mask 2 = nonzero).
  auto image = MakeImage(2, {{N, 1}, {1, 1}, {2, nan}, {3, 3}, {4, 4}, {5, 5}});
  auto mask = MakeImage(1, {{1}, {0}, {1}, {2}, {0}, {0}});
  Check(std::abs(otb::decloud::CloudShare<Image>(image, mask, N, 2) - 25.0) < 1e-12, "cloud share of the pixels with data");
  auto empty = MakeImage(1, {{N}, {N}});
  auto clear = MakeImage(1, {{0}, {0}});
  Check(otb::decloud::CloudShare<Image>(empty, clear, N) == 100.0, "cloud share without data: 100");
}

void TestFilter()
{
  const float N = -10000;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Four images, two bands, six pixels:
  //   x=0: all valid (odd: 3 of 4 clear).        x=1: 2 valid (even): mean of the two middle values, .5 rounded up.
  //   x=2: 4 valid (even), bands ordered apart.  x=3: nothing valid (cloudy, nodata, NaN).
  //   x=4: one valid (image d).                  x=5: a band at nodata in image a: no data there.
  auto a = MakeImage(2, {{1, 10}, {3, 7}, {5, 1}, {N, N}, {1, 1}, {N, 100}});
  auto b = MakeImage(2, {{4, 40}, {4, 8}, {1, 2}, {nan, 2}, {2, 2}, {50, 500}});
  auto c = MakeImage(2, {{2, 20}, {0, 0}, {2, 4}, {3, 3}, {3, 3}, {60, 600}});
  auto d = MakeImage(2, {{9, 90}, {0, 0}, {3, 3}, {4, 4}, {7, 70}, {70, 700}});
  auto ma = MakeImage(1, {{0}, {0}, {0}, {0}, {1}, {0}});
  auto mb = MakeImage(1, {{0}, {0}, {0}, {0}, {1}, {0}});
  auto mc = MakeImage(1, {{0}, {1}, {0}, {1}, {1}, {0}});
  auto md = MakeImage(1, {{1}, {1}, {0}, {1}, {0}, {1}});

  Filter::Pointer median = Filter::New();
  median->PushBackImage(a, ma);
  median->PushBackImage(b, mb);
  median->PushBackImage(c, mc);
  median->PushBackImage(d, md);
  median->SetNodataValue(N);
  median->Update();
  Image* m = median->GetOutput();
  CheckPixel(m, 0, {2, 20}, "median x=0 (odd count)");
  CheckPixel(m, 1, {4, 8}, "median x=1 (3.5 -> 4, 7.5 -> 8: half up)");
  CheckPixel(m, 2, {3, 3}, "median x=2 (2.5 -> 3, 2.5 -> 3)");
  CheckPixel(m, 3, {N, N}, "median x=3: nothing valid, nodata");
  CheckPixel(m, 4, {7, 70}, "median x=4: the one valid observation");
  CheckPixel(m, 5, {55, 550}, "median x=5: a band at nodata is no data");
  median->SetRound(false);
  median->Update();
  CheckPixel(median->GetOutput(), 1, {3.5f, 7.5f}, "median x=1 without rounding");
  median->SetRound(true);
  median->SetNodataValue(0); // -10000 is now data, 0 nodata
  median->Update();
  CheckPixel(median->GetOutput(), 3, {N, N}, "median x=3 with nodata 0: a's -10000 is data (the one valid)");

  Filter::Pointer bap = Filter::New();
  bap->PushBackImage(a, ma);
  bap->PushBackImage(b, mb);
  bap->PushBackImage(c, mc);
  bap->PushBackImage(d, md);
  bap->SetNodataValue(N);
  bap->SetMode(CompositeMode::BestAvailable);
  bap->SetOrder({2, 0, 1, 3}); // c, a, b, d
  bap->Update();
  Image* p = bap->GetOutput();
  CheckPixel(p, 0, {2, 20}, "bap x=0: c");
  CheckPixel(p, 1, {3, 7}, "bap x=1: c cloudy, a");
  CheckPixel(p, 2, {2, 4}, "bap x=2: c");
  CheckPixel(p, 3, {N, N}, "bap x=3: nodata");
  CheckPixel(p, 4, {7, 70}, "bap x=4: d only");
  CheckPixel(p, 5, {60, 600}, "bap x=5: c");
  bap->SetOrder({3, 1, 0, 2});
  bap->Update();
  CheckPixel(bap->GetOutput(), 0, {4, 40}, "bap order d, b...: d cloudy, b");
  CheckPixel(bap->GetOutput(), 2, {3, 3}, "bap order d, b...: d");

  // Without masks every pixel with data is clear; no order: input order.
  Filter::Pointer plain = Filter::New();
  plain->PushBackImage(b, nullptr);
  plain->PushBackImage(c, nullptr);
  plain->SetMode(CompositeMode::BestAvailable);
  plain->SetNodataValue(N);
  plain->Update();
  CheckPixel(plain->GetOutput(), 3, {3, 3}, "bap without masks: b's NaN is no data, c");
  CheckPixel(plain->GetOutput(), 1, {4, 8}, "bap without masks: b");

  // A bad order is refused.
  plain->SetOrder({0, 0});
  try
  {
    plain->Update();
    Check(false, "a bad order is refused");
  }
  catch (const itk::ExceptionObject&)
  {
  }
}
} // namespace

int main()
{
  TestOrder();
  TestCloudShare();
  TestFilter();
  return otb::decloud::unittest::Finish();
}
