#ifndef otbDecloudCloudMaskFilter_hxx
#define otbDecloudCloudMaskFilter_hxx

#include "otbDecloudCloudMaskFilter.h"

#include "itkImageRegionConstIterator.h"
#include "itkImageRegionIterator.h"

namespace otb
{

template <class TInputImage, class TOutputImage>
void DecloudCloudMaskFilter<TInputImage, TOutputImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();
  this->GetOutput()->SetNumberOfComponentsPerPixel(1);
}

template <class TInputImage, class TOutputImage>
void DecloudCloudMaskFilter<TInputImage, TOutputImage>::ThreadedGenerateData(const RegionType& region, itk::ThreadIdType)
{
  using OutputValue = typename TOutputImage::InternalPixelType;
  itk::ImageRegionConstIterator<TInputImage> in(this->GetInput(), region);
  itk::ImageRegionIterator<TOutputImage>     out(this->GetOutput(), region);
  typename TOutputImage::PixelType           pixel(1);
  for (; !out.IsAtEnd(); ++out, ++in)
  {
    pixel[0] = static_cast<OutputValue>(in.Get()[0] != 0 ? 1 : 0);
    out.Set(pixel);
  }
}

} // namespace otb
#endif
