#ifndef otbGridStreamerFilter_hxx
#define otbGridStreamerFilter_hxx

#include "otbGridStreamerFilter.h"

#include "otbImageMetadata.h"

#include <cstring>

namespace otb
{

template <class TImage>
std::vector<typename GridStreamerFilter<TImage>::RegionType>
GridStreamerFilter<TImage>::TilesCovering(const RegionType& region) const
{
  const RegionType largest = this->GetOutput()->GetLargestPossibleRegion();
  std::vector<RegionType> tiles;
  if (region.GetNumberOfPixels() == 0)
    return tiles;
  IndexType first, last;
  for (unsigned int dim = 0; dim < 2; ++dim)
  {
    const auto grid = static_cast<typename IndexType::IndexValueType>(m_OutputGridSize[dim]);
    first[dim] = (region.GetIndex(dim) - largest.GetIndex(dim)) / grid;
    last[dim] = (region.GetUpperIndex()[dim] - largest.GetIndex(dim)) / grid;
  }
  for (auto ty = first[1]; ty <= last[1]; ++ty)
    for (auto tx = first[0]; tx <= last[0]; ++tx)
    {
      IndexType index;
      index[0] = largest.GetIndex(0) + tx * static_cast<long>(m_OutputGridSize[0]);
      index[1] = largest.GetIndex(1) + ty * static_cast<long>(m_OutputGridSize[1]);
      RegionType tile(index, m_OutputGridSize);
      tile.Crop(largest);
      tiles.push_back(tile);
    }
  return tiles;
}

template <class TImage>
void GridStreamerFilter<TImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();
  auto& metadata = this->GetOutput()->GetImageMetadata();
  metadata.Add(MDNum::TileHintX, static_cast<double>(m_OutputGridSize[0]));
  metadata.Add(MDNum::TileHintY, static_cast<double>(m_OutputGridSize[1]));
}

template <class TImage>
void GridStreamerFilter<TImage>::GenerateInputRequestedRegion()
{
  // Only the first tile is requested here; GenerateData() requests the others one by one.
  TImage* input = const_cast<TImage*>(this->GetInput());
  const auto tiles = TilesCovering(this->GetOutput()->GetRequestedRegion());
  if (input && !tiles.empty())
    input->SetRequestedRegion(tiles.front());
}

template <class TImage>
void GridStreamerFilter<TImage>::GenerateData()
{
  TImage*          output = this->GetOutput();
  TImage*          input = const_cast<TImage*>(this->GetInput());
  const RegionType requested = output->GetRequestedRegion();
  output->SetBufferedRegion(requested);
  output->Allocate();

  const size_t nBands = output->GetNumberOfComponentsPerPixel();
  const auto   tiles = TilesCovering(requested);
  for (size_t k = 0; k < tiles.size(); ++k)
  {
    input->SetRequestedRegion(tiles[k]);
    input->PropagateRequestedRegion();
    input->UpdateOutputData();

    RegionType part = tiles[k];
    part.Crop(requested);
    const RegionType in = input->GetBufferedRegion();
    for (unsigned long y = 0; y < part.GetSize(1); ++y)
    {
      const long row = part.GetIndex(1) + static_cast<long>(y);
      const auto* src = input->GetBufferPointer() +
                        ((row - in.GetIndex(1)) * in.GetSize(0) + (part.GetIndex(0) - in.GetIndex(0))) * nBands;
      auto* dst = output->GetBufferPointer() +
                  ((row - requested.GetIndex(1)) * requested.GetSize(0) + (part.GetIndex(0) - requested.GetIndex(0))) *
                    nBands;
      std::memcpy(dst, src, part.GetSize(0) * nBands * sizeof(*src));
    }
    this->UpdateProgress(static_cast<float>(k + 1) / tiles.size());
  }
}

} // namespace otb

#endif
