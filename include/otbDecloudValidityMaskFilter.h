/*
 * Decloud: where every input has data (1) or not (0).
 */
#ifndef otbDecloudValidityMaskFilter_h
#define otbDecloudValidityMaskFilter_h

#include "itkImageToImageFilter.h"

#include <vector>

namespace otb
{

/**
 * \class DecloudValidityMaskFilter
 * \brief 1 where no band of any input equals that input's nodata value, 0 elsewhere. Inputs: vector
 * images on the same grid; inputs without a nodata value are not looked at.
 */
template <class TInputImage, class TMaskImage>
class ITK_EXPORT DecloudValidityMaskFilter : public itk::ImageToImageFilter<TInputImage, TMaskImage>
{
public:
  using Self = DecloudValidityMaskFilter;
  using Superclass = itk::ImageToImageFilter<TInputImage, TMaskImage>;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudValidityMaskFilter, itk::ImageToImageFilter);

  using RegionType = typename TMaskImage::RegionType;

  void PushBackInput(const TInputImage* image, double nodata)
  {
    this->SetNthInput(this->GetNumberOfIndexedInputs(), const_cast<TInputImage*>(image));
    m_Nodata.push_back(nodata);
  }

protected:
  DecloudValidityMaskFilter() = default;
  void ThreadedGenerateData(const RegionType& region, itk::ThreadIdType threadId) override;

private:
  std::vector<double> m_Nodata;
};

} // namespace otb

#ifndef OTB_MANUAL_INSTANTIATION
#include "otbDecloudValidityMaskFilter.hxx"
#endif
#endif
