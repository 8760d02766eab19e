/*
 * Decloud: pull the upstream pipeline one grid tile at a time.
 */
#ifndef otbGridStreamerFilter_h
#define otbGridStreamerFilter_h

#include "itkImageToImageFilter.h"

namespace otb
{

/**
 * \class GridStreamerFilter
 * \brief Computes its output requested region by requesting the input one tile of a fixed grid at a time.
 *
 * The writer streams by strips sized from the available RAM; a network wants small square tiles of a
 * size chosen for speed and memory (and aligned to its expression field). This filter decouples the two:
 * tiles are the cells of a grid of OutputGridSize anchored at the largest region's index, cropped to the
 * largest possible region; each tile is requested from the input, updated, and its part of the output
 * requested region copied (row by row). The input is never asked for more than one tile, so the memory
 * held upstream is bounded by the tile size. Progress is reported per tile. The grid is published as
 * the output's tiling hint, so that OTB's writer streams by regions made of whole tiles (no tile is
 * computed twice by two streaming chunks).
 */
template <class TImage>
class ITK_EXPORT GridStreamerFilter : public itk::ImageToImageFilter<TImage, TImage>
{
public:
  using Self = GridStreamerFilter;
  using Superclass = itk::ImageToImageFilter<TImage, TImage>;
  using Pointer = itk::SmartPointer<Self>;
  using ConstPointer = itk::SmartPointer<const Self>;
  using RegionType = typename TImage::RegionType;
  using SizeType = typename TImage::SizeType;
  using IndexType = typename TImage::IndexType;

  itkNewMacro(Self);
  itkTypeMacro(GridStreamerFilter, itk::ImageToImageFilter);

  itkSetMacro(OutputGridSize, SizeType);
  itkGetConstMacro(OutputGridSize, SizeType);

protected:
  GridStreamerFilter() { m_OutputGridSize.Fill(256); }
  ~GridStreamerFilter() override = default;

  void GenerateOutputInformation() override;
  void GenerateInputRequestedRegion() override;
  void GenerateData() override;

private:
  GridStreamerFilter(const Self&) = delete;
  void operator=(const Self&) = delete;

  /** Tiles of the grid that intersect `region`, each cropped to the largest possible region. */
  std::vector<RegionType> TilesCovering(const RegionType& region) const;

  SizeType m_OutputGridSize;
};

} // namespace otb

#ifndef OTB_MANUAL_INSTANTIATION
#include "otbGridStreamerFilter.hxx"
#endif

#endif
