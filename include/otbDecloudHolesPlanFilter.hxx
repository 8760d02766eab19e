#ifndef otbDecloudHolesPlanFilter_hxx
#define otbDecloudHolesPlanFilter_hxx

#include "otbDecloudHolesPlanFilter.h"

#include "otbImageMetadata.h"

namespace otb
{

template <class TImage, class TMask>
void DecloudHolesPlanFilter<TImage, TMask>::SetDate(Slot slot, const TImage* image)
{
  if (m_Input[slot] < 0)
    m_Input[slot] = static_cast<int>(this->GetNumberOfIndexedInputs());
  this->SetNthInput(m_Input[slot], const_cast<TImage*>(image));
}

template <class TImage, class TMask>
void DecloudHolesPlanFilter<TImage, TMask>::SetCloudWeight(const TImage* weight)
{
  if (m_Weight < 0)
    m_Weight = static_cast<int>(this->GetNumberOfIndexedInputs());
  this->SetNthInput(m_Weight, const_cast<TImage*>(weight));
}

template <class TImage, class TMask>
void DecloudHolesPlanFilter<TImage, TMask>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();
  if (this->GetNumberOfIndexedInputs() == 0)
    itkExceptionMacro("No input");
  // Classes, not reflectances: one band, no nodata value (0 is a class).
  ImageMetadata& md = this->GetOutput()->GetImageMetadata();
  md.Bands.clear();
  md.Bands.resize(1);
}

template <class TImage, class TMask>
void DecloudHolesPlanFilter<TImage, TMask>::ThreadedGenerateData(const RegionType& region, itk::ThreadIdType)
{
  using Value = typename TImage::InternalPixelType;
  constexpr unsigned int S = decloud::HolesRule::Slots;
  TMask*                 output = this->GetOutput();
  unsigned int           bands[S] = {0, 0, 0};
  bool                   given[S], has[S];
  for (unsigned int k = 0; k < S; ++k)
  {
    given[k] = m_Input[k] >= 0;
    if (given[k])
      bands[k] = this->GetInput(m_Input[k])->GetNumberOfComponentsPerPixel();
  }
  const TImage* weight = m_Weight >= 0 ? this->GetInput(m_Weight) : nullptr;
  const unsigned int weightBands = weight ? weight->GetNumberOfComponentsPerPixel() : 0;
  for (auto y = region.GetIndex(1); y < region.GetIndex(1) + static_cast<long>(region.GetSize(1)); ++y)
  {
    itk::Index<2> start{{region.GetIndex(0), y}};
    const Value*  rows[S];
    for (unsigned int k = 0; k < S; ++k)
      rows[k] = given[k] ? decloud::BufferPointer(this->GetInput(m_Input[k]), start, bands[k]) : nullptr;
    const Value* w = weight ? decloud::BufferPointer(weight, start, weightBands) : nullptr;
    auto*        out = decloud::BufferPointer(output, start, 1);
    for (size_t x = 0; x < region.GetSize(0); ++x)
    {
      for (unsigned int k = 0; k < S; ++k)
        has[k] = given[k] && decloud::HasData(rows[k] + x * bands[k], bands[k], m_NodataValue);
      const bool kept = w && has[decloud::HolesRule::T] && w[x * weightBands] <= 0;
      out[x] = decloud::HolesRule::Plan(has, given, kept, m_ModelFillsHoles);
    }
  }
}

} // namespace otb
#endif
