/*
 * Decloud: per pixel, the first of N co-registered images that has data there.
 */
#ifndef otbDecloudFirstValidImageFilter_h
#define otbDecloudFirstValidImageFilter_h

#include "itkImageToImageFilter.h"

namespace otb
{

/**
 * \class DecloudFirstValidImageFilter
 * \brief Each output pixel is the pixel of the first input (in the order given) none of whose bands
 * equals the nodata value or is NaN; nodata where no input has data. Inputs: same grid, same number of bands.
 *
 * This is how a date at the edge of a swath is completed by the next-best candidate date, per pixel.
 */
template <class TImage>
class ITK_EXPORT DecloudFirstValidImageFilter : public itk::ImageToImageFilter<TImage, TImage>
{
public:
  using Self = DecloudFirstValidImageFilter;
  using Superclass = itk::ImageToImageFilter<TImage, TImage>;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudFirstValidImageFilter, itk::ImageToImageFilter);

  using RegionType = typename TImage::RegionType;

  void PushBackInput(const TImage* image) { this->SetNthInput(this->GetNumberOfIndexedInputs(), const_cast<TImage*>(image)); }
  itkSetMacro(NodataValue, double);
  itkGetConstMacro(NodataValue, double);

protected:
  DecloudFirstValidImageFilter() = default;
  void GenerateOutputInformation() override;
  void ThreadedGenerateData(const RegionType& region, itk::ThreadIdType threadId) override;

private:
  double m_NodataValue = -10000.0;
};

} // namespace otb

#ifndef OTB_MANUAL_INSTANTIATION
#include "otbDecloudFirstValidImageFilter.hxx"
#endif
#endif
