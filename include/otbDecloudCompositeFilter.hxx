#ifndef otbDecloudCompositeFilter_hxx
#define otbDecloudCompositeFilter_hxx

#include "otbDecloudCompositeFilter.h"
#include "otbDecloudHoles.h"
#include "otbDecloudNodataMetadata.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace otb
{
namespace decloud
{

inline std::vector<unsigned int> BestAvailableOrder(const std::vector<double>& shares, const std::vector<double>& dates,
                                                    double reference)
{
  std::vector<unsigned int> order(shares.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](unsigned int a, unsigned int b) {
    if (shares[a] != shares[b])
      return shares[a] < shares[b];
    return std::abs(dates[a] - reference) < std::abs(dates[b] - reference);
  });
  return order;
}

template <class TImage>
double CloudShare(TImage* image, TImage* mask, double nodata, size_t maxPixels)
{
  image->UpdateOutputInformation();
  mask->UpdateOutputInformation();
  const auto         largest = image->GetLargestPossibleRegion();
  const size_t       width = largest.GetSize(0);
  const size_t       rows = std::max<size_t>(1, maxPixels / std::max<size_t>(1, width));
  const unsigned int bands = image->GetNumberOfComponentsPerPixel();
  const unsigned int maskBands = mask->GetNumberOfComponentsPerPixel();
  double             data = 0, cloudy = 0;
  for (size_t y0 = 0; y0 < largest.GetSize(1); y0 += rows)
  {
    typename TImage::RegionType stripe = largest;
    stripe.SetIndex(1, largest.GetIndex(1) + static_cast<itk::IndexValueType>(y0));
    stripe.SetSize(1, std::min(rows, largest.GetSize(1) - y0));
    image->SetRequestedRegion(stripe);
    image->Update();
    mask->SetRequestedRegion(stripe);
    mask->Update();
    for (size_t y = 0; y < stripe.GetSize(1); ++y)
    {
      itk::Index<2> start = stripe.GetIndex();
      start[1] += static_cast<itk::IndexValueType>(y);
      const auto* v = BufferPointer(image, start, bands);
      const auto* m = BufferPointer(mask, start, maskBands);
      for (size_t x = 0; x < width; ++x)
        if (HasData(v + x * bands, bands, nodata))
        {
          ++data;
          if (m[x * maskBands] != 0)
            ++cloudy;
        }
    }
  }
  return data > 0 ? 100.0 * cloudy / data : 100.0;
}

} // namespace decloud

template <class TImage>
void DecloudCompositeFilter<TImage>::PushBackImage(const TImage* image, const TImage* cloudMask)
{
  Entry e{static_cast<unsigned int>(this->GetNumberOfIndexedInputs()), -1};
  this->SetNthInput(e.image, const_cast<TImage*>(image));
  if (cloudMask)
  {
    e.mask = static_cast<int>(this->GetNumberOfIndexedInputs());
    this->SetNthInput(e.mask, const_cast<TImage*>(cloudMask));
  }
  m_Images.push_back(e);
  this->Modified();
}

template <class TImage>
void DecloudCompositeFilter<TImage>::SetOrder(const std::vector<unsigned int>& order)
{
  m_Order = order;
  this->Modified();
}

template <class TImage>
void DecloudCompositeFilter<TImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();
  if (m_Images.empty())
    itkExceptionMacro("No image");
  const unsigned int bands = this->GetInput(m_Images.front().image)->GetNumberOfComponentsPerPixel();
  for (const Entry& e : m_Images)
    if (this->GetInput(e.image)->GetNumberOfComponentsPerPixel() != bands)
      itkExceptionMacro("The images have different numbers of bands");
  if (!m_Order.empty())
  {
    std::vector<unsigned int> sorted = m_Order;
    std::sort(sorted.begin(), sorted.end());
    for (size_t k = 0; k < sorted.size(); ++k)
      if (sorted.size() != m_Images.size() || sorted[k] != k)
        itkExceptionMacro("The preference order is not a permutation of the " << m_Images.size() << " images");
  }
  this->GetOutput()->SetNumberOfComponentsPerPixel(bands);
  SetNodataMetadata(this->GetOutput(), m_NodataValue);
}

template <class TImage>
void DecloudCompositeFilter<TImage>::ThreadedGenerateData(const RegionType& region, itk::ThreadIdType)
{
  using Value = typename TImage::InternalPixelType;
  TImage*      output = this->GetOutput();
  const size_t bands = output->GetNumberOfComponentsPerPixel();
  const Value  nodata = static_cast<Value>(m_NodataValue);
  const size_t n = m_Images.size();
  const bool   median = m_Mode == decloud::CompositeMode::Median;

  std::vector<unsigned int> order = m_Order;
  if (order.empty())
  {
    order.resize(n);
    std::iota(order.begin(), order.end(), 0u);
  }
  std::vector<size_t> maskBands(n, 0);
  for (size_t k = 0; k < n; ++k)
    if (m_Images[k].mask >= 0)
      maskBands[k] = this->GetInput(m_Images[k].mask)->GetNumberOfComponentsPerPixel();

  std::vector<const Value*> rows(n), maskRows(n);
  std::vector<const Value*> valid;    // the valid observations of a pixel
  std::vector<double>       values;   // one band of them
  valid.reserve(n);
  values.reserve(n);
  for (auto y = region.GetIndex(1); y < region.GetIndex(1) + static_cast<itk::IndexValueType>(region.GetSize(1)); ++y)
  {
    const itk::Index<2> start{{region.GetIndex(0), y}};
    for (size_t k = 0; k < n; ++k)
    {
      rows[k] = decloud::BufferPointer(this->GetInput(m_Images[k].image), start, bands);
      maskRows[k] = m_Images[k].mask >= 0 ? decloud::BufferPointer(this->GetInput(m_Images[k].mask), start, maskBands[k])
                                          : nullptr;
    }
    Value* out = decloud::BufferPointer(output, start, bands);
    for (size_t x = 0; x < region.GetSize(0); ++x, out += bands)
    {
      auto isValid = [&](size_t k) {
        return (!maskRows[k] || maskRows[k][x * maskBands[k]] == 0) &&
               decloud::HasData(rows[k] + x * bands, static_cast<unsigned int>(bands), m_NodataValue);
      };
      if (!median)
      {
        const Value* best = nullptr;
        for (unsigned int k : order)
          if (isValid(k))
          {
            best = rows[k] + x * bands;
            break;
          }
        if (best)
          std::copy(best, best + bands, out);
        else
          std::fill(out, out + bands, nodata);
        continue;
      }
      valid.clear();
      for (size_t k = 0; k < n; ++k)
        if (isValid(k))
          valid.push_back(rows[k] + x * bands);
      if (valid.empty())
      {
        std::fill(out, out + bands, nodata);
        continue;
      }
      const size_t m = valid.size(), half = m / 2;
      for (size_t c = 0; c < bands; ++c)
      {
        values.clear();
        for (const Value* v : valid)
          values.push_back(static_cast<double>(v[c]));
        std::nth_element(values.begin(), values.begin() + half, values.end());
        double v = values[half];
        if (m % 2 == 0) // the mean of the two middle values: the upper one and the largest below it
          v = 0.5 * (v + *std::max_element(values.begin(), values.begin() + half));
        out[c] = static_cast<Value>(m_Round ? std::floor(v + 0.5) : v);
      }
    }
  }
}

} // namespace otb
#endif
