#ifndef otbDecloudFirstValidImageFilter_hxx
#define otbDecloudFirstValidImageFilter_hxx

#include "otbDecloudFirstValidImageFilter.h"
#include "otbDecloudHoles.h"

#include "itkImageRegionConstIterator.h"
#include "itkImageRegionIterator.h"

#include <vector>

namespace otb
{

template <class TImage>
void DecloudFirstValidImageFilter<TImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();
  const unsigned int bands = this->GetInput(0)->GetNumberOfComponentsPerPixel();
  for (unsigned int i = 1; i < this->GetNumberOfIndexedInputs(); ++i)
  {
    const TImage* in = this->GetInput(i);
    if (in->GetNumberOfComponentsPerPixel() != bands)
      itkExceptionMacro("Candidate #" << i + 1 << " has " << in->GetNumberOfComponentsPerPixel() << " bands, the first " << bands);
    if (in->GetLargestPossibleRegion() != this->GetInput(0)->GetLargestPossibleRegion())
      itkExceptionMacro("Candidate #" << i + 1 << " is not on the first candidate's grid");
  }
  this->GetOutput()->SetNumberOfComponentsPerPixel(bands);
}

template <class TImage>
void DecloudFirstValidImageFilter<TImage>::ThreadedGenerateData(const RegionType& region, itk::ThreadIdType)
{
  using Value = typename TImage::InternalPixelType;
  const unsigned int n = this->GetNumberOfIndexedInputs();
  const unsigned int bands = this->GetOutput()->GetNumberOfComponentsPerPixel();
  const Value        nodata = static_cast<Value>(m_NodataValue);
  std::vector<itk::ImageRegionConstIterator<TImage>> inputs;
  for (unsigned int i = 0; i < n; ++i)
    inputs.emplace_back(this->GetInput(i), region);
  itk::ImageRegionIterator<TImage> out(this->GetOutput(), region);
  typename TImage::PixelType       missing(bands);
  missing.Fill(nodata);
  for (; !out.IsAtEnd(); ++out)
  {
    bool written = false;
    for (auto& it : inputs)
    {
      if (!written)
      {
        const auto& pixel = it.Get();
        if (decloud::HasData(pixel.GetDataPointer(), bands, m_NodataValue))
        {
          out.Set(pixel);
          written = true;
        }
      }
      ++it;
    }
    if (!written)
      out.Set(missing);
  }
}

} // namespace otb
#endif
