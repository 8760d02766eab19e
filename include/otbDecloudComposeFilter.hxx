#ifndef otbDecloudComposeFilter_hxx
#define otbDecloudComposeFilter_hxx

#include "otbDecloudComposeFilter.h"
#include "otbDecloudNodataMetadata.h"

#include <algorithm>
#include <cmath>

namespace otb
{

template <class TImage, class TMaskImage>
void DecloudComposeFilter<TImage, TMaskImage>::SetOriginal(const TImage* original, const TImage* weight)
{
  if (m_Original < 0)
    m_Original = static_cast<int>(std::max<size_t>(2, this->GetNumberOfIndexedInputs()));
  this->SetNthInput(m_Original, const_cast<TImage*>(original));
  this->SetNthInput(m_Original + 1, const_cast<TImage*>(weight));
}

template <class TImage, class TMaskImage>
void DecloudComposeFilter<TImage, TMaskImage>::SetFallback(const TImage* fallback)
{
  if (m_Fallback < 0)
    m_Fallback = static_cast<int>(std::max<size_t>(2, this->GetNumberOfIndexedInputs()));
  this->SetNthInput(m_Fallback, const_cast<TImage*>(fallback));
}

template <class TImage, class TMaskImage>
void DecloudComposeFilter<TImage, TMaskImage>::ResetCounts()
{
  for (auto& c : m_Counts)
    c = 0;
}

template <class TImage, class TMaskImage>
auto DecloudComposeFilter<TImage, TMaskImage>::GetCounts() const -> Counts
{
  Counts counts;
  for (unsigned int k = 0; k < counts.size(); ++k)
    counts[k] = m_Counts[k];
  return counts;
}

template <class TImage, class TMaskImage>
void DecloudComposeFilter<TImage, TMaskImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();
  const unsigned int bands = this->GetInput(0)->GetNumberOfComponentsPerPixel();
  for (int index : {m_Original, m_Fallback})
    if (index >= 0 && this->GetInput(index)->GetNumberOfComponentsPerPixel() != bands)
      itkExceptionMacro("The image at t has " << this->GetInput(index)->GetNumberOfComponentsPerPixel()
                                              << " bands, the estimate " << bands);
  this->GetOutput()->SetNumberOfComponentsPerPixel(bands);
  SetNodataMetadata(this->GetOutput(), m_NodataValue);
}

template <class TImage, class TMaskImage>
void DecloudComposeFilter<TImage, TMaskImage>::ThreadedGenerateData(const RegionType& region, itk::ThreadIdType)
{
  using Value = typename TImage::InternalPixelType;
  const unsigned int bands = this->GetOutput()->GetNumberOfComponentsPerPixel();
  const Value        nodata = static_cast<Value>(m_NodataValue);
  const TImage*      estimateImage = this->GetInput(0);
  const auto*        planImage = dynamic_cast<const TMaskImage*>(this->itk::ProcessObject::GetInput(1));
  const TImage*      originalImage = m_Original >= 0 ? this->GetInput(m_Original) : nullptr;
  const TImage*      weightImage = m_Original >= 0 ? this->GetInput(m_Original + 1) : nullptr;
  const TImage*      fallbackImage = m_Fallback >= 0 ? this->GetInput(m_Fallback) : nullptr;
  const unsigned int weightBands = weightImage ? weightImage->GetNumberOfComponentsPerPixel() : 0;
  TImage*            output = this->GetOutput();
  Counts             counts{};

  auto encode = [&](double v) -> Value {
    if (!m_Round)
      return static_cast<Value>(v);
    return static_cast<Value>(std::min(32767.0, std::max(m_NodataValue + 1, std::floor(v + 0.5))));
  };
  for (auto y = region.GetIndex(1); y < region.GetIndex(1) + static_cast<long>(region.GetSize(1)); ++y)
  {
    itk::Index<2> start{{region.GetIndex(0), y}};
    const Value*  e = decloud::BufferPointer(estimateImage, start, bands);
    const auto*   p = decloud::BufferPointer(planImage, start, 1);
    const Value*  o = originalImage ? decloud::BufferPointer(originalImage, start, bands) : nullptr;
    const Value*  w = weightImage ? decloud::BufferPointer(weightImage, start, weightBands) : nullptr;
    const Value*  f = fallbackImage ? decloud::BufferPointer(fallbackImage, start, bands) : nullptr;
    Value*        out = decloud::BufferPointer(output, start, bands);
    for (size_t x = 0; x < region.GetSize(0); ++x, e += bands, out += bands)
    {
      const auto   code = static_cast<decloud::Provenance>(p[x]);
      const Value* oPix = o ? o + x * bands : nullptr;
      const bool   oValid = oPix && decloud::HasData(oPix, bands, m_NodataValue);
      const double weight = w ? static_cast<double>(w[x * weightBands]) : 1.0;
      const bool   fallback = f && (code == decloud::ProvenanceGapFilling || code == decloud::ProvenanceSingleDate);
      const Value* estimate = fallback ? f + x * bands : e;
      bool         hole = false;
      if (m_EstimateHoles && !fallback)
        hole = std::all_of(estimate, estimate + bands, [nodata](Value v) { return v == nodata; });

      decloud::Provenance provenance = code == decloud::ProvenanceKept ? decloud::ProvenanceNetwork : code;
      if (code == decloud::ProvenanceNodata)
      {
        std::fill(out, out + bands, nodata);
      }
      else if (oValid && (code == decloud::ProvenanceKept || weight <= 0.0))
      {
        std::copy(oPix, oPix + bands, out); // kept bit for bit
        provenance = decloud::ProvenanceKept;
      }
      else if (hole)
      {
        // No estimate: a clear pixel (w < 1, the transition ring) is kept, a cloudy one has nothing.
        if (oValid && weight < 1.0)
        {
          std::copy(oPix, oPix + bands, out);
          provenance = decloud::ProvenanceKept;
        }
        else
        {
          std::fill(out, out + bands, nodata);
          provenance = decloud::ProvenanceNodata;
        }
      }
      else if (oValid)
      {
        for (unsigned int b = 0; b < bands; ++b)
          out[b] = encode(weight * estimate[b] + (1.0 - weight) * oPix[b]);
      }
      else
      {
        for (unsigned int b = 0; b < bands; ++b)
          out[b] = encode(estimate[b]);
      }
      ++counts[provenance];
    }
  }
  for (unsigned int k = 0; k < counts.size(); ++k)
    m_Counts[k] += counts[k];
}

} // namespace otb
#endif
