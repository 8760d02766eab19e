/*
 * Decloud: checks that input images share a grid (CRS, pixel size, alignment) and finds their common extent.
 */
#ifndef otbDecloudGrid_h
#define otbDecloudGrid_h

#include "OTBDecloudExport.h"

#include "itkImageRegion.h"

#include <string>
#include <vector>

namespace otb
{
namespace decloud
{

/** What the grid check needs to know of one input image. */
struct GridInput
{
  std::string  key;     // the parameter that gave it, for messages
  std::string  crs;     // WKT (projection ref)
  double       corner[2];  // upper-left corner of the upper-left pixel
  double       spacing[2]; // signed pixel size
  unsigned int size[2];
  unsigned int scale = 1; // expected pixel size relative to the reference's

  template <class TImage>
  static GridInput Of(const std::string& key, const TImage* image, unsigned int scale = 1)
  {
    GridInput in;
    in.key = key;
    in.crs = image->GetProjectionRef();
    const auto region = image->GetLargestPossibleRegion();
    typename TImage::PointType first;
    image->TransformIndexToPhysicalPoint(region.GetIndex(), first);
    for (unsigned int dim = 0; dim < 2; ++dim)
    {
      in.spacing[dim] = image->GetSignedSpacing()[dim];
      in.corner[dim] = first[dim] - 0.5 * in.spacing[dim];
      in.size[dim] = static_cast<unsigned int>(region.GetSize(dim));
    }
    in.scale = scale;
    return in;
  }
};

/**
 * The extent that every input covers, in pixels of inputs[0] (the reference), snapped so that it starts
 * and ends on whole pixels of every input. Throws std::runtime_error naming the input ("dem: ...") when a
 * CRS differs, a pixel size is not `scale` times the reference's, a grid is shifted by a fraction of a
 * pixel, or the inputs do not overlap.
 */
OTBDecloud_EXPORT itk::ImageRegion<2> CommonRegion(const std::vector<GridInput>& inputs);

/** The part of `input` that covers `region` (pixels of the reference `reference`), in the input's pixels. */
OTBDecloud_EXPORT itk::ImageRegion<2> RegionOfInput(const GridInput& input, const GridInput& reference,
                                                   const itk::ImageRegion<2>& region);

} // namespace decloud
} // namespace otb

#endif
