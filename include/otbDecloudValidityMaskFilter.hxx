#ifndef otbDecloudValidityMaskFilter_hxx
#define otbDecloudValidityMaskFilter_hxx

#include "otbDecloudValidityMaskFilter.h"

#include "itkImageRegionConstIterator.h"
#include "itkImageRegionIterator.h"

namespace otb
{

template <class TInputImage, class TMaskImage>
void DecloudValidityMaskFilter<TInputImage, TMaskImage>::ThreadedGenerateData(const RegionType& region, itk::ThreadIdType)
{
  const bool anyHasData = m_Rule == Rule::AnyInputHasData;
  itk::ImageRegionIterator<TMaskImage> out(this->GetOutput(), region);
  for (out.GoToBegin(); !out.IsAtEnd(); ++out)
    out.Set(anyHasData ? 0 : 1);
  for (unsigned int i = 0; i < this->GetNumberOfIndexedInputs(); ++i)
  {
    using Value = typename TInputImage::InternalPixelType;
    const Value        nodata = static_cast<Value>(m_Nodata[i]);
    const unsigned int bands = this->GetInput(i)->GetNumberOfComponentsPerPixel();
    itk::ImageRegionConstIterator<TInputImage> in(this->GetInput(i), region);
    for (out.GoToBegin(); !out.IsAtEnd(); ++out, ++in)
    {
      const auto& pixel = in.Get();
      if (anyHasData)
      {
        // Data where not every band is nodata.
        for (unsigned int b = 0; b < bands; ++b)
          if (pixel[b] != nodata)
          {
            out.Set(1);
            break;
          }
      }
      else
      {
        for (unsigned int b = 0; b < bands; ++b)
          if (pixel[b] == nodata)
          {
            out.Set(0);
            break;
          }
      }
    }
  }
}

} // namespace otb
#endif
