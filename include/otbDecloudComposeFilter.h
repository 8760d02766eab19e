/*
 * Decloud: the final output of DecloudInfer from the network's estimate, the provenance plan and, optionally,
 * the original image at t with its cloud transition weight and a fallback image.
 */
#ifndef otbDecloudComposeFilter_h
#define otbDecloudComposeFilter_h

#include "otbDecloudHoles.h"

#include "itkImageToImageFilter.h"

#include <array>
#include <atomic>
#include <cstdint>

namespace otb
{

/**
 * \class DecloudComposeFilter
 * \brief Per pixel, with E the estimate (the network's), P the plan (decloud::Provenance, DecloudHolesPlanFilter),
 * F the fallback image (optional: the date that has data, where P says gap-filling or single date), O the
 * original image at t and W its cloud weight in [0, 1] (optional, together):
 *  - P = nodata: nodata;
 *  - P = kept (O has data, W == 0): O, exactly (clear pixels are kept bit for bit);
 *  - else the estimate X = F where P is a fallback and F is given, E otherwise; where O has data and W > 0,
 *    W X + (1 - W) O (the transition around clouds), else X.
 * With rounding (the S2 int16 encoding), values are rounded half up and clamped to [nodata + 1, 32767] so that
 * no valid pixel reads as nodata. The output's band metadata carry the nodata value.
 *
 * With EstimateHoles on (models that complete the holes of their inputs and write nodata in every band where
 * they have nothing to offer), an estimate pixel whose bands all equal the nodata value counts as no estimate:
 * the output is O where O has data and is clear (W < 1: kept, or in the transition ring), else nodata.
 *
 * The filter counts the output pixels of each provenance class as it computes them (ResetCounts, GetCounts):
 * written once, the counts are the output's.
 */
template <class TImage, class TMaskImage>
class ITK_EXPORT DecloudComposeFilter : public itk::ImageToImageFilter<TImage, TImage>
{
public:
  using Self = DecloudComposeFilter;
  using Superclass = itk::ImageToImageFilter<TImage, TImage>;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudComposeFilter, itk::ImageToImageFilter);

  using RegionType = typename TImage::RegionType;
  using Counts = std::array<std::uint64_t, decloud::ProvenanceClasses>;

  void SetEstimate(const TImage* image) { this->SetNthInput(0, const_cast<TImage*>(image)); }
  /** The provenance plan (DecloudHolesPlanFilter's classes). */
  void SetPlan(const TMaskImage* plan) { this->SetNthInput(1, const_cast<TMaskImage*>(plan)); }
  /** Keep the clear pixels of `original`, blending towards the estimate with `weight` (one band). */
  void SetOriginal(const TImage* original, const TImage* weight);
  /** The value of the fallback classes (gap-filling, single date): the only date that has data there. */
  void SetFallback(const TImage* fallback);

  itkSetMacro(NodataValue, double);
  itkGetConstMacro(NodataValue, double);
  itkSetMacro(Round, bool);
  itkGetConstMacro(Round, bool);
  itkSetMacro(EstimateHoles, bool);
  itkGetConstMacro(EstimateHoles, bool);
  itkBooleanMacro(EstimateHoles);

  void   ResetCounts();
  Counts GetCounts() const;

protected:
  DecloudComposeFilter() { ResetCounts(); }
  void GenerateOutputInformation() override;
  void ThreadedGenerateData(const RegionType& region, itk::ThreadIdType threadId) override;

private:
  double m_NodataValue = -10000.0;
  bool   m_Round = true;
  bool   m_EstimateHoles = false;
  int    m_Original = -1; // input index of the original (the weight follows), -1: none
  int    m_Fallback = -1;
  std::array<std::atomic<std::uint64_t>, decloud::ProvenanceClasses> m_Counts;
};

} // namespace otb

#ifndef OTB_MANUAL_INSTANTIATION
#include "otbDecloudComposeFilter.hxx"
#endif
#endif
