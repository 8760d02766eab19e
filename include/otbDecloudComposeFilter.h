/*
 * Decloud: the final output of DecloudInfer from the network's estimate, the validity mask and,
 * optionally, the original image at t with its cloud transition weight.
 */
#ifndef otbDecloudComposeFilter_h
#define otbDecloudComposeFilter_h

#include "itkImageToImageFilter.h"

namespace otb
{

/**
 * \class DecloudComposeFilter
 * \brief Per pixel, with E the estimate (input 0) and V the validity mask (input 1, 0 = nothing to offer):
 *  - without an original image: V ? E : nodata;
 *  - with the original image O at t (input 2) and the cloud weight W in [0, 1] (input 3):
 *      O valid and W == 0: O, exactly (clear pixels are kept bit for bit);
 *      O valid and W > 0:  W E + (1 - W) O where V, else O;
 *      O nodata:           V ? E : nodata.
 * With rounding (the S2 int16 encoding), values are rounded half up and clamped to [nodata + 1, 32767]
 * so that no valid pixel reads as nodata. The output's band metadata carry the nodata value.
 *
 * With EstimateHoles on (models that complete the holes of their inputs and write nodata in every band
 * where they have nothing to offer), an estimate pixel whose bands all equal the nodata value counts as no
 * estimate: the output is O where O is valid and clear (W < 1: kept, or in the transition ring), else nodata.
 * Off (the default), the estimate is taken as it is wherever V says so.
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

  void SetEstimate(const TImage* image) { this->SetNthInput(0, const_cast<TImage*>(image)); }
  void SetValidity(const TMaskImage* mask) { this->SetNthInput(1, const_cast<TMaskImage*>(mask)); }
  /** Keep the clear pixels of `original`, blending towards the estimate with `weight` (one band). */
  void SetOriginal(const TImage* original, const TImage* weight)
  {
    this->SetNthInput(2, const_cast<TImage*>(original));
    this->SetNthInput(3, const_cast<TImage*>(weight));
  }

  itkSetMacro(NodataValue, double);
  itkGetConstMacro(NodataValue, double);
  itkSetMacro(Round, bool);
  itkGetConstMacro(Round, bool);
  itkSetMacro(EstimateHoles, bool);
  itkGetConstMacro(EstimateHoles, bool);
  itkBooleanMacro(EstimateHoles);

protected:
  DecloudComposeFilter() = default;
  void GenerateOutputInformation() override;
  void ThreadedGenerateData(const RegionType& region, itk::ThreadIdType threadId) override;

private:
  double m_NodataValue = -10000.0;
  bool   m_Round = true;
  bool   m_EstimateHoles = false;
};

} // namespace otb

#ifndef OTB_MANUAL_INSTANTIATION
#include "otbDecloudComposeFilter.hxx"
#endif
#endif
