/*
 * Decloud: extract square patches of an image into a patch stack, streamed patch by patch.
 */
#ifndef otbPatchStackFilter_h
#define otbPatchStackFilter_h

#include "itkImageToImageFilter.h"

#include <vector>

namespace otb
{

/**
 * \class PatchStackFilter
 * \brief Output = the patches of the input at the given indices, stacked vertically (OTBTF's layout):
 * patch k occupies rows [k * size, (k + 1) * size) of a (size x N * size) image with the input's bands.
 *
 * Streaming contract: the input is asked for one patch region at a time (the first one in
 * GenerateInputRequestedRegion, the others pulled in GenerateData), so the memory held upstream is one
 * patch whatever the spread of the patches. A patch must lie inside the input's largest possible region
 * (checked in GenerateOutputInformation, with the patch's number and index in the message). The output
 * has no geographic meaning: its origin is (0, 0) and its spacing 1.
 */
template <class TImage>
class ITK_EXPORT PatchStackFilter : public itk::ImageToImageFilter<TImage, TImage>
{
public:
  using Self = PatchStackFilter;
  using Superclass = itk::ImageToImageFilter<TImage, TImage>;
  using Pointer = itk::SmartPointer<Self>;
  using ConstPointer = itk::SmartPointer<const Self>;
  using RegionType = typename TImage::RegionType;
  using SizeType = typename TImage::SizeType;
  using IndexType = typename TImage::IndexType;

  itkNewMacro(Self);
  itkTypeMacro(PatchStackFilter, itk::ImageToImageFilter);

  /** Upper-left indices of the patches, in the input's pixel grid. */
  void SetPatchIndices(const std::vector<IndexType>& indices) { m_PatchIndices = indices; this->Modified(); }
  const std::vector<IndexType>& GetPatchIndices() const { return m_PatchIndices; }

  itkSetMacro(PatchSize, unsigned int);
  itkGetConstMacro(PatchSize, unsigned int);

protected:
  PatchStackFilter() = default;
  ~PatchStackFilter() override = default;

  void GenerateOutputInformation() override;
  void GenerateInputRequestedRegion() override;
  void GenerateData() override;

private:
  PatchStackFilter(const Self&) = delete;
  void operator=(const Self&) = delete;

  RegionType PatchRegion(size_t k) const { SizeType s; s.Fill(m_PatchSize); return RegionType(m_PatchIndices[k], s); }
  /** Patches whose rows meet the output region. */
  std::pair<size_t, size_t> PatchRange(const RegionType& outputRegion) const;

  std::vector<IndexType> m_PatchIndices;
  unsigned int           m_PatchSize = 64;
};

} // namespace otb

#ifndef OTB_MANUAL_INSTANTIATION
#include "otbPatchStackFilter.hxx"
#endif

#endif
