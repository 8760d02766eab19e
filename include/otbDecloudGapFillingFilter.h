/*
 * Decloud: the image at date t, linear in time between the nearest valid dates before and after, per pixel.
 */
#ifndef otbDecloudGapFillingFilter_h
#define otbDecloudGapFillingFilter_h

#include "itkImageToImageFilter.h"

#include <vector>

namespace otb
{

/**
 * \class DecloudGapFillingFilter
 * \brief Per pixel and independently: among the dated images where the pixel is valid (it has data: no band
 * equals nodata or is NaN; and its cloud mask, when given, is 0 there), B = the latest date <= t and A = the
 * earliest date >= t. Output: B + (t - tB) / (tA - tB) (A - B) when both exist (B when tA == tB), B or A alone
 * when only one exists. Where every date that has data is cloudy, the same rule over the dates that have data
 * (cloudy or not); nodata only where no date has data. Computed in double precision; with rounding (S2 int16
 * encoding) floor(v + 0.5). Images and masks: same grid (masks: first band, nonzero = cloudy).
 */
template <class TImage>
class ITK_EXPORT DecloudGapFillingFilter : public itk::ImageToImageFilter<TImage, TImage>
{
public:
  using Self = DecloudGapFillingFilter;
  using Superclass = itk::ImageToImageFilter<TImage, TImage>;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudGapFillingFilter, itk::ImageToImageFilter);

  using RegionType = typename TImage::RegionType;

  /** Add a dated image (seconds since an epoch) and its cloud mask (nullptr: no mask). */
  void PushBackDate(const TImage* image, const TImage* cloudMask, double date);

  itkSetMacro(TargetDate, double);
  itkGetConstMacro(TargetDate, double);
  itkSetMacro(NodataValue, double);
  itkGetConstMacro(NodataValue, double);
  itkSetMacro(Round, bool);
  itkGetConstMacro(Round, bool);
  /** Benchmarks only (bench/fullscene.py, the I/O floor): the output is a copy of the first image pushed, with
   * no computation; every image and mask is still requested, read and streamed as in a normal run. */
  itkSetMacro(IoFloor, bool);
  itkGetConstMacro(IoFloor, bool);

protected:
  DecloudGapFillingFilter() = default;
  void GenerateOutputInformation() override;
  void ThreadedGenerateData(const RegionType& region, itk::ThreadIdType threadId) override;

private:
  struct Date
  {
    unsigned int image;
    int          mask; // input index, -1 without mask
    double       date;
  };
  std::vector<Date> m_Dates; // sorted by date
  double            m_TargetDate = 0.0;
  double            m_NodataValue = -10000.0;
  bool              m_Round = true;
  bool              m_IoFloor = false;
};

} // namespace otb

#ifndef OTB_MANUAL_INSTANTIATION
#include "otbDecloudGapFillingFilter.hxx"
#endif
#endif
