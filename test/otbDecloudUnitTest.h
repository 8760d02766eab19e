/*
 * What the module's C++ unit tests (test/otbDecloud*Test.cxx) share: the failed-check count, Check / CheckEqual,
 * the closing line that ctest's PASS_REGULAR_EXPRESSION looks for ("all checks passed"), and one-row images for the
 * filters' tests.
 */
#ifndef otbDecloudUnitTest_h
#define otbDecloudUnitTest_h

#include "itkIntTypes.h"

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace otb
{
namespace decloud
{
namespace unittest
{

/** The number of failed checks so far. */
inline int& Failures()
{
  static int failures = 0;
  return failures;
}

/** Prints "FAILED: <what>" and counts it when `ok` is false. */
inline void Check(bool ok, const std::string& what)
{
  if (!ok)
  {
    std::cerr << "FAILED: " << what << "\n";
    ++Failures();
  }
}

/** Check(got == expected), the message saying both: "<what>: got <got>, expected <expected>". */
template <class T, class U>
void CheckEqual(const T& got, const U& expected, const std::string& what)
{
  std::ostringstream message;
  message << what << ": got " << got << ", expected " << expected;
  Check(got == expected, message.str());
}

/** main's return: EXIT_FAILURE with the count of failed checks, else "all checks passed" and EXIT_SUCCESS. */
inline int Finish()
{
  if (Failures())
  {
    std::cerr << Failures() << " check(s) failed\n";
    return EXIT_FAILURE;
  }
  std::cout << "all checks passed\n";
  return EXIT_SUCCESS;
}

/** A one-row image of `bands` bands: pixel x is pixels[x]. */
template <class TImage>
typename TImage::Pointer MakeRowImage(unsigned int bands, const std::vector<std::vector<float>>& pixels)
{
  typename TImage::Pointer    image = TImage::New();
  typename TImage::RegionType region;
  region.SetSize(0, static_cast<itk::SizeValueType>(pixels.size()));
  region.SetSize(1, 1);
  image->SetRegions(region);
  image->SetNumberOfComponentsPerPixel(bands);
  image->Allocate();
  for (size_t x = 0; x < pixels.size(); ++x)
  {
    typename TImage::PixelType p(bands);
    for (unsigned int b = 0; b < bands; ++b)
      p[b] = pixels[x][b];
    image->SetPixel({{static_cast<itk::IndexValueType>(x), 0}}, p);
  }
  return image;
}

/** Pixel x of row 0 of a one-row image, as floats. */
template <class TImage>
std::vector<float> RowPixel(TImage* image, unsigned int x)
{
  const auto         p = image->GetPixel({{static_cast<itk::IndexValueType>(x), 0}});
  std::vector<float> v;
  for (unsigned int b = 0; b < p.Size(); ++b)
    v.push_back(p[b]);
  return v;
}

} // namespace unittest
} // namespace decloud
} // namespace otb

#endif
