#ifndef otbDecloudComposeFilter_hxx
#define otbDecloudComposeFilter_hxx

#include "otbDecloudComposeFilter.h"
#include "otbDecloudNodataMetadata.h"

#include "itkImageRegionConstIterator.h"
#include "itkImageRegionIterator.h"

#include <algorithm>
#include <cmath>

namespace otb
{

template <class TImage, class TMaskImage>
void DecloudComposeFilter<TImage, TMaskImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();
  const unsigned int bands = this->GetInput(0)->GetNumberOfComponentsPerPixel();
  if (this->GetNumberOfIndexedInputs() > 2 && this->GetInput(2)->GetNumberOfComponentsPerPixel() != bands)
    itkExceptionMacro("The image at t has " << this->GetInput(2)->GetNumberOfComponentsPerPixel()
                                            << " bands, the estimate " << bands);
  this->GetOutput()->SetNumberOfComponentsPerPixel(bands);
  SetNodataMetadata(this->GetOutput(), m_NodataValue);
}

template <class TImage, class TMaskImage>
void DecloudComposeFilter<TImage, TMaskImage>::ThreadedGenerateData(const RegionType& region, itk::ThreadIdType)
{
  using Value = typename TImage::InternalPixelType;
  const unsigned int bands = this->GetOutput()->GetNumberOfComponentsPerPixel();
  const bool         blend = this->GetNumberOfIndexedInputs() > 2;
  const Value        nodata = static_cast<Value>(m_NodataValue);
  itk::ImageRegionConstIterator<TImage> estimate(this->GetInput(0), region);
  itk::ImageRegionConstIterator<TMaskImage> validity(dynamic_cast<const TMaskImage*>(this->itk::ProcessObject::GetInput(1)), region);
  itk::ImageRegionConstIterator<TImage> original, weight;
  if (blend)
  {
    original = itk::ImageRegionConstIterator<TImage>(this->GetInput(2), region);
    weight = itk::ImageRegionConstIterator<TImage>(this->GetInput(3), region);
  }
  itk::ImageRegionIterator<TImage> out(this->GetOutput(), region);
  typename TImage::PixelType       pixel(bands);
  auto encode = [&](double v) -> Value {
    if (!m_Round)
      return static_cast<Value>(v);
    return static_cast<Value>(std::min(32767.0, std::max(m_NodataValue + 1, std::floor(v + 0.5))));
  };
  // With EstimateHoles: nodata in every band of the estimate means that the model had nothing to offer.
  auto isHole = [&](const typename TImage::PixelType& e) {
    if (!m_EstimateHoles)
      return false;
    for (unsigned int b = 0; b < bands; ++b)
      if (e[b] != nodata)
        return false;
    return true;
  };
  for (; !out.IsAtEnd(); ++out, ++estimate, ++validity)
  {
    const bool valid = validity.Get() != 0;
    const bool hole = isHole(estimate.Get());
    bool       done = false;
    if (blend)
    {
      const auto& o = original.Get();
      bool        originalValid = true;
      for (unsigned int b = 0; b < bands && originalValid; ++b)
        originalValid = o[b] != nodata;
      const double w = weight.Get()[0];
      if (originalValid && (w <= 0.0 || !valid))
      {
        pixel = o; // kept bit for bit
        done = true;
      }
      else if (originalValid && hole)
      {
        // No estimate: a clear pixel (w < 1, the transition ring) is kept, a cloudy one has nothing.
        if (w < 1.0)
          pixel = o;
        else
          pixel.Fill(nodata);
        done = true;
      }
      else if (originalValid)
      {
        const auto& e = estimate.Get();
        for (unsigned int b = 0; b < bands; ++b)
          pixel[b] = encode(w * e[b] + (1.0 - w) * o[b]);
        done = true;
      }
      ++original;
      ++weight;
    }
    if (!done)
    {
      if (valid && !hole)
      {
        const auto& e = estimate.Get();
        for (unsigned int b = 0; b < bands; ++b)
          pixel[b] = encode(e[b]);
      }
      else
        pixel.Fill(nodata);
    }
    out.Set(pixel);
  }
}

} // namespace otb
#endif
