/*
 * Decloud: one Sentinel-2 date with its holes completed from the other dates, per pixel (the gap-filling's rule).
 */
#ifndef otbDecloudHolesCompletionFilter_h
#define otbDecloudHolesCompletionFilter_h

#include "otbDecloudHoles.h"

#include "itkImageToImageFilter.h"

#include <array>

namespace otb
{

/**
 * \class DecloudHolesCompletionFilter
 * \brief The S2 date in slot `Target` (t, t-1 or t+1) where every hole is completed from the other dates given,
 * per pixel, by decloud::HolesRule::Complete: its own values where it has data (no band nodata or NaN), t-1
 * from t+1 and t+1 from t-1, t from the gap-filling of t-1 and t+1 (weight of t+1: `Weight`), then from the
 * date that has data, and the fill value (0) where no date has data. The output has no nodata value: this is
 * what a network that does not complete holes itself is fed.
 *
 * Streaming: per pixel, each output region needs the same region of every input (same grid, same bands).
 */
template <class TImage>
class ITK_EXPORT DecloudHolesCompletionFilter : public itk::ImageToImageFilter<TImage, TImage>
{
public:
  using Self = DecloudHolesCompletionFilter;
  using Superclass = itk::ImageToImageFilter<TImage, TImage>;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudHolesCompletionFilter, itk::ImageToImageFilter);

  using RegionType = typename TImage::RegionType;
  using Slot = decloud::HolesRule::Slot;

  /** The image of one date (slot t, t-1 or t+1); dates not set are absent. */
  void SetDate(Slot slot, const TImage* image);
  /** The date completed in the output (it must have been set). */
  void SetTarget(Slot slot)
  {
    m_Target = slot;
    this->Modified();
  }
  void SetWeight(double w)
  {
    m_Rule.weight = w;
    this->Modified();
  }
  void SetFillValue(double v)
  {
    m_Rule.fill = v;
    this->Modified();
  }
  itkSetMacro(NodataValue, double);
  itkGetConstMacro(NodataValue, double);

protected:
  DecloudHolesCompletionFilter() { m_Input.fill(-1); }
  void GenerateOutputInformation() override;
  void ThreadedGenerateData(const RegionType& region, itk::ThreadIdType threadId) override;

private:
  std::array<int, decloud::HolesRule::Slots> m_Input; // input index of each slot, -1: not given
  Slot                                        m_Target = decloud::HolesRule::T;
  decloud::HolesRule                          m_Rule;
  double                                      m_NodataValue = -10000.0;
};

} // namespace otb

#ifndef OTB_MANUAL_INSTANTIATION
#include "otbDecloudHolesCompletionFilter.hxx"
#endif
#endif
