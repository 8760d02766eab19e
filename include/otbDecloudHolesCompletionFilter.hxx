#ifndef otbDecloudHolesCompletionFilter_hxx
#define otbDecloudHolesCompletionFilter_hxx

#include "otbDecloudHolesCompletionFilter.h"

namespace otb
{

template <class TImage>
void DecloudHolesCompletionFilter<TImage>::SetDate(Slot slot, const TImage* image)
{
  if (m_Input[slot] < 0)
    m_Input[slot] = static_cast<int>(this->GetNumberOfIndexedInputs());
  this->SetNthInput(m_Input[slot], const_cast<TImage*>(image));
}

template <class TImage>
void DecloudHolesCompletionFilter<TImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();
  if (m_Input[m_Target] < 0)
    itkExceptionMacro("The date to complete (slot " << m_Target << ") was not given");
  const TImage*      target = this->GetInput(m_Input[m_Target]);
  const unsigned int bands = target->GetNumberOfComponentsPerPixel();
  for (unsigned int k = 0; k < decloud::HolesRule::Slots; ++k)
    if (m_Input[k] >= 0)
    {
      const TImage* in = this->GetInput(m_Input[k]);
      if (in->GetNumberOfComponentsPerPixel() != bands)
        itkExceptionMacro("Date slot " << k << " has " << in->GetNumberOfComponentsPerPixel() << " bands, the date to complete "
                                       << bands);
      if (in->GetLargestPossibleRegion() != target->GetLargestPossibleRegion())
        itkExceptionMacro("Date slot " << k << " is not on the grid of the date to complete");
    }
  this->GetOutput()->SetNumberOfComponentsPerPixel(bands);
}

template <class TImage>
void DecloudHolesCompletionFilter<TImage>::ThreadedGenerateData(const RegionType& region, itk::ThreadIdType)
{
  using Value = typename TImage::InternalPixelType;
  constexpr unsigned int S = decloud::HolesRule::Slots;
  TImage*                output = this->GetOutput();
  const unsigned int     bands = output->GetNumberOfComponentsPerPixel();
  const Value*           v[S];
  bool                   has[S];
  for (auto y = region.GetIndex(1); y < region.GetIndex(1) + static_cast<long>(region.GetSize(1)); ++y)
  {
    itk::Index<2> start{{region.GetIndex(0), y}};
    const Value*  rows[S];
    for (unsigned int k = 0; k < S; ++k)
      rows[k] = m_Input[k] >= 0 ? decloud::BufferPointer(this->GetInput(m_Input[k]), start, bands) : nullptr;
    Value* out = decloud::BufferPointer(output, start, bands);
    for (size_t x = 0; x < region.GetSize(0); ++x, out += bands)
    {
      for (unsigned int k = 0; k < S; ++k)
      {
        v[k] = rows[k] ? rows[k] + x * bands : nullptr;
        has[k] = v[k] && decloud::HasData(v[k], bands, m_NodataValue);
      }
      m_Rule.Complete(m_Target, v, has, out, bands);
    }
  }
}

} // namespace otb
#endif
