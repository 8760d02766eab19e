/*
 * Decloud: one rule for holes in an input image: a pixel with a NaN or nodata band is a hole in every band.
 */
#ifndef otbDecloudNodataFilter_h
#define otbDecloudNodataFilter_h

#include "itkImageToImageFilter.h"

namespace otb
{

/**
 * \class DecloudNodataFilter
 * \brief Per pixel: where a band is NaN (float inputs) or, when the input has a nodata value, equals it, every
 * band takes the replacement value (the nodata value itself, so that a partial hole becomes a whole one, or a
 * neutral value such as 0 for a network input); elsewhere the pixel is copied as it is. Without a nodata value
 * only NaN pixels are replaced.
 */
template <class TImage>
class ITK_EXPORT DecloudNodataFilter : public itk::ImageToImageFilter<TImage, TImage>
{
public:
  using Self = DecloudNodataFilter;
  using Superclass = itk::ImageToImageFilter<TImage, TImage>;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudNodataFilter, itk::ImageToImageFilter);

  using RegionType = typename TImage::RegionType;

  /** The input's nodata value (without one, only NaN pixels are holes). */
  void SetNodataValue(double nodata)
  {
    m_HasNodata = true;
    m_NodataValue = nodata;
    this->Modified();
  }
  itkSetMacro(Replacement, double);
  itkGetConstMacro(Replacement, double);

protected:
  DecloudNodataFilter() = default;
  void GenerateOutputInformation() override;
  void ThreadedGenerateData(const RegionType& region, itk::ThreadIdType threadId) override;

private:
  bool   m_HasNodata = false;
  double m_NodataValue = 0.0;
  double m_Replacement = 0.0;
};

} // namespace otb

#ifndef OTB_MANUAL_INSTANTIATION
#include "otbDecloudNodataFilter.hxx"
#endif
#endif
