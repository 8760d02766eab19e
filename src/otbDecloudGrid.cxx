#include "otbDecloudGrid.h"

#include "otbSpatialReference.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace otb
{
namespace decloud
{
namespace
{
/** Offset of the input's corner from the reference's, in reference pixels (x right, y down). */
double Offset(const GridInput& input, const GridInput& reference, unsigned int dim)
{
  return (input.corner[dim] - reference.corner[dim]) / reference.spacing[dim];
}

std::runtime_error Error(const GridInput& input, const std::string& what)
{
  return std::runtime_error(input.key + ": " + what);
}
} // namespace

itk::ImageRegion<2> CommonRegion(const std::vector<GridInput>& inputs)
{
  if (inputs.empty())
    throw std::runtime_error("no input image");
  const GridInput& ref = inputs.front();
  if (ref.crs.empty())
    throw Error(ref, "the image has no coordinate reference system");
  const SpatialReference refCrs = SpatialReference::FromDescription(ref.crs);
  long lo[2] = {0, 0}, hi[2] = {static_cast<long>(ref.size[0]), static_cast<long>(ref.size[1])};
  for (const GridInput& in : inputs)
  {
    if (in.crs.empty())
      throw Error(in, "the image has no coordinate reference system");
    bool same = false;
    try
    {
      same = SpatialReference::FromDescription(in.crs) == refCrs;
    }
    catch (const std::exception&)
    {
      throw Error(in, "its coordinate reference system cannot be read");
    }
    if (!same)
      throw Error(in, "the image is in another coordinate reference system than " + ref.key +
                        " (reproject it onto " + ref.key + "'s grid, e.g. with OTB's Superimpose)");
    for (unsigned int dim = 0; dim < 2; ++dim)
    {
      const double expected = in.scale * ref.spacing[dim];
      if (std::abs(in.spacing[dim] - expected) > 1e-6 * std::abs(expected))
      {
        std::ostringstream msg;
        msg << "pixel size " << std::abs(in.spacing[0]) << " x " << std::abs(in.spacing[1]) << (in.spacing[1] > 0 ? " (south-up)" : "")
            << ", expected " << std::abs(in.scale * ref.spacing[0]) << " x " << std::abs(in.scale * ref.spacing[1]) << " ("
            << in.scale << " x " << ref.key << "'s); resample it onto " << ref.key << "'s grid";
        throw Error(in, msg.str());
      }
      const double offset = Offset(in, ref, dim);
      if (std::abs(offset - std::round(offset)) > 1e-3)
      {
        std::ostringstream msg;
        msg << "the grid is shifted by " << offset - std::floor(offset) << " pixel from " << ref.key
            << "'s (" << (dim ? "y" : "x") << "); resample it onto " << ref.key << "'s grid";
        throw Error(in, msg.str());
      }
      const long start = std::lround(offset);
      lo[dim] = std::max(lo[dim], start);
      hi[dim] = std::min(hi[dim], start + static_cast<long>(in.size[dim] * in.scale));
    }
  }
  // Whole pixels of the coarser inputs: move the bounds inwards onto their grids.
  for (const GridInput& in : inputs)
    for (unsigned int dim = 0; dim < 2; ++dim)
    {
      const long s = in.scale, start = std::lround(Offset(in, ref, dim));
      lo[dim] = start + (lo[dim] - start + s - 1) / s * s;
      hi[dim] = start + (hi[dim] - start) / s * s;
    }
  for (const GridInput& in : inputs)
    for (unsigned int dim = 0; dim < 2; ++dim)
      if ((lo[dim] - std::lround(Offset(in, ref, dim))) % in.scale != 0)
        throw Error(in, "its pixels are not aligned with those of the other coarse inputs");
  if (hi[0] <= lo[0] || hi[1] <= lo[1])
  {
    std::ostringstream msg;
    msg << "the inputs do not overlap:";
    for (const GridInput& in : inputs)
      msg << " " << in.key << " [" << in.corner[0] << ", " << in.corner[1] << ", " << in.size[0] << "x" << in.size[1] << " px]";
    throw std::runtime_error(msg.str());
  }
  itk::ImageRegion<2> region;
  region.SetIndex(0, lo[0]);
  region.SetIndex(1, lo[1]);
  region.SetSize(0, static_cast<unsigned long>(hi[0] - lo[0]));
  region.SetSize(1, static_cast<unsigned long>(hi[1] - lo[1]));
  return region;
}

itk::ImageRegion<2> RegionOfInput(const GridInput& input, const GridInput& reference, const itk::ImageRegion<2>& region)
{
  itk::ImageRegion<2> out;
  for (unsigned int dim = 0; dim < 2; ++dim)
  {
    const long start = std::lround(Offset(input, reference, dim));
    out.SetIndex(dim, (region.GetIndex(dim) - start) / static_cast<long>(input.scale));
    out.SetSize(dim, region.GetSize(dim) / input.scale);
  }
  return out;
}

} // namespace decloud
} // namespace otb
