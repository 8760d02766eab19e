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

protected:
  DecloudCloudMaskFilter() = default;
  void GenerateOutputInformation() override;
  void ThreadedGenerateData(const RegionType& region, itk::ThreadIdType threadId) override;
};

} // namespace otb

#ifndef OTB_MANUAL_INSTANTIATION
#include "otbDecloudCloudMaskFilter.hxx"
#endif
#endif
