/*
 * Decloud: where each output pixel of DecloudInfer comes from (its provenance), from the inputs alone.
 */
#ifndef otbDecloudHolesPlanFilter_h
#define otbDecloudHolesPlanFilter_h

#include "otbDecloudHoles.h"

#include "itkImageToImageFilter.h"

#include <array>

namespace otb
{

/**
 * \class DecloudHolesPlanFilter
 * \brief Per pixel, the provenance class (decloud::Provenance, decloud::HolesRule::Plan) of DecloudInfer's
 * output, from the S2 dates the model takes (slots t, t-1, t+1, before completion) and, with a cloud mask, the
 * cloud weight of t (1 band, 0 = clear and kept): 0 no date has data, 1 t kept, 2 network, 3 gap-filling
 * fallback, 4 single-date fallback. DecloudComposeFilter composes the output by these classes; written as
 * they are, they are the -outprov output. The classes depend on the inputs only (no network run), so a
 * second pass that writes them costs a read of the inputs.
 *
 * Streaming: per pixel, each output region needs the same region of every input.
 */
template <class TImage, class TMask>
class ITK_EXPORT DecloudHolesPlanFilter : public itk::ImageToImageFilter<TImage, TMask>
{
public:
  using Self = DecloudHolesPlanFilter;
  using Superclass = itk::ImageToImageFilter<TImage, TMask>;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudHolesPlanFilter, itk::ImageToImageFilter);

  using RegionType = typename TMask::RegionType;
  using Slot = decloud::HolesRule::Slot;

  /** The image of one S2 date the model takes (slot t, t-1 or t+1). */
  void SetDate(Slot slot, const TImage* image);
  /** The cloud weight of t (DecloudCloudTransitionFilter): where it is 0 and t has data, t is kept. */
  void SetCloudWeight(const TImage* weight);

  itkSetMacro(NodataValue, double);
  itkGetConstMacro(NodataValue, double);
  /** The model completes the holes of its inputs itself (card: "holes": "model"). */
  itkSetMacro(ModelFillsHoles, bool);
  itkGetConstMacro(ModelFillsHoles, bool);

protected:
  DecloudHolesPlanFilter() { m_Input.fill(-1); }
  void GenerateOutputInformation() override;
  void ThreadedGenerateData(const RegionType& region, itk::ThreadIdType threadId) override;

private:
  std::array<int, decloud::HolesRule::Slots> m_Input; // input index of each slot, -1: not given
  int                                         m_Weight = -1;
  double                                      m_NodataValue = -10000.0;
  bool                                        m_ModelFillsHoles = false;
};

} // namespace otb

#ifndef OTB_MANUAL_INSTANTIATION
#include "otbDecloudHolesPlanFilter.hxx"
#endif
#endif
