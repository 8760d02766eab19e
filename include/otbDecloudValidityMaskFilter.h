/*
 * Decloud: where the inputs have data (1) or not (0).
 */
#ifndef otbDecloudValidityMaskFilter_h
#define otbDecloudValidityMaskFilter_h

#include "itkImageToImageFilter.h"

#include <vector>

namespace otb
{

/**
 * \class DecloudValidityMaskFilter
 * \brief A 0/1 mask of where the inputs (vector images on the same grid, each with its nodata value) have
 * data, by one of two rules:
 *  - AllInputsValid (default): 1 where no band of any input equals that input's nodata value;
 *  - AnyInputHasData: 1 where at least one input has data, an input having data at a pixel when not all
 *    of its bands equal its nodata value (models that complete the holes of their inputs themselves).
 */
template <class TInputImage, class TMaskImage>
class ITK_EXPORT DecloudValidityMaskFilter : public itk::ImageToImageFilter<TInputImage, TMaskImage>
{
public:
  using Self = DecloudValidityMaskFilter;
  using Superclass = itk::ImageToImageFilter<TInputImage, TMaskImage>;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudValidityMaskFilter, itk::ImageToImageFilter);

  using RegionType = typename TMaskImage::RegionType;

  enum class Rule
  {
    AllInputsValid,
    AnyInputHasData
  };

  void PushBackInput(const TInputImage* image, double nodata)
  {
    this->SetNthInput(this->GetNumberOfIndexedInputs(), const_cast<TInputImage*>(image));
    m_Nodata.push_back(nodata);
  }

  void SetRule(Rule rule)
  {
    if (rule != m_Rule)
    {
      m_Rule = rule;
      this->Modified();
    }
  }
  Rule GetRule() const { return m_Rule; }

protected:
  DecloudValidityMaskFilter() = default;
  void ThreadedGenerateData(const RegionType& region, itk::ThreadIdType threadId) override;

private:
  std::vector<double> m_Nodata;
  Rule                m_Rule = Rule::AllInputsValid;
};

} // namespace otb

#ifndef OTB_MANUAL_INSTANTIATION
#include "otbDecloudValidityMaskFilter.hxx"
#endif
#endif
