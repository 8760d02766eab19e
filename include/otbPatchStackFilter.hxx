#ifndef otbPatchStackFilter_hxx
#define otbPatchStackFilter_hxx

#include "otbPatchStackFilter.h"

#include <algorithm>
#include <cstring>

namespace otb
{

template <class TImage>
void PatchStackFilter<TImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();
  if (m_PatchIndices.empty())
    itkExceptionMacro("No patch to extract");
  const RegionType largest = this->GetInput()->GetLargestPossibleRegion();
  for (size_t k = 0; k < m_PatchIndices.size(); ++k)
    if (!largest.IsInside(PatchRegion(k)))
      itkExceptionMacro("Patch #" << k + 1 << " at index " << m_PatchIndices[k] << " of size " << m_PatchSize
                                  << " is outside the image (" << largest.GetSize(0) << "x" << largest.GetSize(1)
                                  << " pixels)");
  TImage*    output = this->GetOutput();
  RegionType region;
  region.SetSize(0, m_PatchSize);
  region.SetSize(1, m_PatchSize * m_PatchIndices.size());
  output->SetLargestPossibleRegion(region);
  typename TImage::PointType origin;
  origin.Fill(0.5);
  typename TImage::SpacingType spacing;
  spacing.Fill(1.0);
  output->SetOrigin(origin);
  output->SetSignedSpacing(spacing);
  output->SetProjectionRef("");
  output->SetNumberOfComponentsPerPixel(this->GetInput()->GetNumberOfComponentsPerPixel());
}

template <class TImage>
std::pair<size_t, size_t> PatchStackFilter<TImage>::PatchRange(const RegionType& outputRegion) const
{
  const size_t first = outputRegion.GetIndex(1) / m_PatchSize;
  const size_t last = (outputRegion.GetIndex(1) + outputRegion.GetSize(1) - 1) / m_PatchSize;
  return {first, std::min(last + 1, m_PatchIndices.size())};
}

template <class TImage>
void PatchStackFilter<TImage>::GenerateInputRequestedRegion()
{
  TImage* input = const_cast<TImage*>(this->GetInput());
  if (input)
    input->SetRequestedRegion(PatchRegion(PatchRange(this->GetOutput()->GetRequestedRegion()).first));
}

template <class TImage>
void PatchStackFilter<TImage>::GenerateData()
{
  TImage*          output = this->GetOutput();
  TImage*          input = const_cast<TImage*>(this->GetInput());
  const RegionType requested = output->GetRequestedRegion();
  output->SetBufferedRegion(requested);
  output->Allocate();
  const size_t nBands = output->GetNumberOfComponentsPerPixel();
  const auto   range = PatchRange(requested);
  for (size_t k = range.first; k < range.second; ++k)
  {
    if (k != range.first)
    {
      input->SetRequestedRegion(PatchRegion(k));
      input->PropagateRequestedRegion();
      input->UpdateOutputData();
    }
    const RegionType in = input->GetBufferedRegion();
    // Rows of patch k inside the requested output region, and its columns there.
    const long rowBegin = std::max<long>(requested.GetIndex(1), static_cast<long>(k * m_PatchSize));
    const long rowEnd = std::min<long>(requested.GetIndex(1) + requested.GetSize(1), static_cast<long>((k + 1) * m_PatchSize));
    const long col0 = requested.GetIndex(0);
    const long cols = requested.GetSize(0);
    for (long row = rowBegin; row < rowEnd; ++row)
    {
      const long y = m_PatchIndices[k][1] + (row - static_cast<long>(k * m_PatchSize));
      const long x = m_PatchIndices[k][0] + col0;
      const auto* src = input->GetBufferPointer() + ((y - in.GetIndex(1)) * in.GetSize(0) + (x - in.GetIndex(0))) * nBands;
      auto*       dst = output->GetBufferPointer() + ((row - requested.GetIndex(1)) * cols) * nBands;
      std::memcpy(dst, src, cols * nBands * sizeof(*src));
    }
    this->UpdateProgress(static_cast<float>(k + 1 - range.first) / (range.second - range.first));
  }
}

} // namespace otb

#endif
