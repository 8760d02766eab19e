/*
 * Decloud: a weight that is 1 on clouds and falls smoothly to 0 within a few pixels around them.
 */
#ifndef otbDecloudCloudTransitionFilter_h
#define otbDecloudCloudTransitionFilter_h

#include "itkImageToImageFilter.h"

namespace otb
{

/**
 * \class DecloudCloudTransitionFilter
 * \brief w = 1 on cloudy pixels (first band != 0), w = smoothstep(1 - d / (T + 1)) on clear pixels at
 * Chebyshev distance d <= T from the nearest cloudy pixel, and exactly 0 farther away (T: the
 * transition width, in pixels). Streamed: each region needs its input padded by T.
 *
 * The distance is computed in two separable passes limited to T (rows, then columns), O(T) per pixel.
 */
template <class TInputImage, class TOutputImage>
class ITK_EXPORT DecloudCloudTransitionFilter : public itk::ImageToImageFilter<TInputImage, TOutputImage>
{
public:
  using Self = DecloudCloudTransitionFilter;
  using Superclass = itk::ImageToImageFilter<TInputImage, TOutputImage>;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudCloudTransitionFilter, itk::ImageToImageFilter);

  using RegionType = typename TOutputImage::RegionType;

  itkSetMacro(Transition, unsigned int);
  itkGetConstMacro(Transition, unsigned int);

protected:
  DecloudCloudTransitionFilter() = default;
  void GenerateOutputInformation() override;
  void GenerateInputRequestedRegion() override;
  void ThreadedGenerateData(const RegionType& region, itk::ThreadIdType threadId) override;

private:
  unsigned int m_Transition = 10;
};

} // namespace otb

#ifndef OTB_MANUAL_INSTANTIATION
#include "otbDecloudCloudTransitionFilter.hxx"
#endif
#endif
