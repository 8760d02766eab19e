#ifndef otbDecloudCloudMaskFilter_hxx
#define otbDecloudCloudMaskFilter_hxx

#include "otbDecloudCloudMaskFilter.h"
#include "otbDecloudHoles.h"

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
  const TInputImage*                         image = this->GetNumberOfIndexedInputs() > 1 ? this->GetInput(1) : nullptr;
  const unsigned int                         bands = image ? image->GetNumberOfComponentsPerPixel() : 0;
  itk::ImageRegionConstIterator<TInputImage> in(this->GetInput(), region);
  itk::ImageRegionConstIterator<TInputImage> t;
  if (image)
    t = itk::ImageRegionConstIterator<TInputImage>(image, region);
  itk::ImageRegionIterator<TOutputImage> out(this->GetOutput(), region);
  typename TOutputImage::PixelType       pixel(1);
  for (; !out.IsAtEnd(); ++out, ++in)
  {
    bool cloudy = in.Get()[0] != 0;
    if (image)
    {
      cloudy = cloudy || !decloud::HasData(t.Get().GetDataPointer(), bands, m_NodataValue);
      ++t;
    }
    pixel[0] = static_cast<OutputValue>(cloudy ? 1 : 0);
    out.Set(pixel);
  }
}

} // namespace otb
#endif
