/*
 * Decloud: a cloud mask as a model input (float 1.0 = cloudy, 0.0 = clear).
 */
#ifndef otbDecloudCloudMaskFilter_h
#define otbDecloudCloudMaskFilter_h

#include "itkImageToImageFilter.h"

namespace otb
{

/**
 * \class DecloudCloudMaskFilter
 * \brief One band: 1 where the input's first band is nonzero (cloudy), 0 elsewhere (clear). This is how a
 * user's cloud mask (any nonzero value: cloudy) feeds a model input of kind "mask" (role cloud_t). The mask
 * has no nodata value: every pixel is 0 or 1.
 *
 * With the image at t given (SetImage), its holes (a band nodata or NaN) are cloudy too (1): for a model that
 * does not complete holes itself, a hole of t is completed from the other dates and must be estimated.
 */
template <class TInputImage, class TOutputImage>
class ITK_EXPORT DecloudCloudMaskFilter : public itk::ImageToImageFilter<TInputImage, TOutputImage>
{
public:
  using Self = DecloudCloudMaskFilter;
  using Superclass = itk::ImageToImageFilter<TInputImage, TOutputImage>;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudCloudMaskFilter, itk::ImageToImageFilter);

  using RegionType = typename TOutputImage::RegionType;

  /** The image at t (same grid) and its nodata value: its holes count as cloudy. */
  void SetImage(const TInputImage* image, double nodata)
  {
    this->SetNthInput(1, const_cast<TInputImage*>(image));
    m_NodataValue = nodata;
  }

protected:
  DecloudCloudMaskFilter() = default;
  void GenerateOutputInformation() override;
  void ThreadedGenerateData(const RegionType& region, itk::ThreadIdType threadId) override;

private:
  double m_NodataValue = -10000.0;
};

} // namespace otb

#ifndef OTB_MANUAL_INSTANTIATION
#include "otbDecloudCloudMaskFilter.hxx"
#endif
#endif
