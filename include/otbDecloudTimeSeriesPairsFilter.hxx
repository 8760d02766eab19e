#ifndef otbDecloudTimeSeriesPairsFilter_hxx
#define otbDecloudTimeSeriesPairsFilter_hxx

#include "otbDecloudTimeSeriesPairsFilter.h"
#include "otbDecloudHoles.h"
#include "otbDecloudNodataMetadata.h"

#include <algorithm>
#include <cmath>

namespace otb
{

template <class TImage>
DecloudTimeSeriesPairsFilter<TImage>::DecloudTimeSeriesPairsFilter()
{
  SetNumberOfSlots(1);
}

template <class TImage>
void DecloudTimeSeriesPairsFilter<TImage>::SetNumberOfSlots(unsigned int slots)
{
  if (slots == 0)
    itkExceptionMacro("The number of slots must be at least 1");
  m_Slots = slots;
  this->SetNumberOfRequiredOutputs(2 * slots);
  this->SetNumberOfIndexedOutputs(2 * slots);
  for (unsigned int k = 0; k < 2 * slots; ++k)
    if (!this->itk::ProcessObject::GetOutput(k))
      this->SetNthOutput(k, this->MakeOutput(k));
  this->Modified();
}

template <class TImage>
unsigned int DecloudTimeSeriesPairsFilter<TImage>::InputIndex(const TImage* image, std::vector<unsigned int>& series)
{
  const unsigned int n = this->GetNumberOfIndexedInputs();
  unsigned int       index = n;
  for (unsigned int k = 0; k < n; ++k)
    if (this->GetInput(k) == image)
      index = k;
  if (index == n)
    this->SetNthInput(n, const_cast<TImage*>(image));
  if (std::find(series.begin(), series.end(), index) == series.end())
    series.push_back(index);
  return index;
}

template <class TImage>
void DecloudTimeSeriesPairsFilter<TImage>::PushBackPair(const TImage* sar, const TImage* opt)
{
  if (!sar || !opt)
    itkExceptionMacro("A pair needs a SAR image and an optical image");
  const unsigned int s = InputIndex(sar, m_SarInputs);
  const unsigned int o = InputIndex(opt, m_OptInputs);
  m_Pairs.push_back({s, o});
  this->Modified();
}

template <class TImage>
void DecloudTimeSeriesPairsFilter<TImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();
  if (m_Pairs.empty())
    itkExceptionMacro("No S1/S2 pair");
  const TImage* firstSar = this->GetInput(m_SarInputs.front());
  const TImage* firstOpt = this->GetInput(m_OptInputs.front());
  const auto&   region = firstSar->GetLargestPossibleRegion();
  for (unsigned int k = 0; k < this->GetNumberOfIndexedInputs(); ++k)
    if (this->GetInput(k)->GetLargestPossibleRegion() != region)
      itkExceptionMacro("The images do not share one extent");
  for (unsigned int k : m_SarInputs)
    if (this->GetInput(k)->GetNumberOfComponentsPerPixel() != firstSar->GetNumberOfComponentsPerPixel())
      itkExceptionMacro("The SAR images have different numbers of bands");
  for (unsigned int k : m_OptInputs)
    if (this->GetInput(k)->GetNumberOfComponentsPerPixel() != firstOpt->GetNumberOfComponentsPerPixel())
      itkExceptionMacro("The optical images have different numbers of bands");
  for (unsigned int slot = 0; slot < m_Slots; ++slot)
  {
    // Each output describes itself as its series' first image (metadata, bands), with its series' nodata.
    TImage* sar = GetSarOutput(slot);
    TImage* opt = GetOptOutput(slot);
    sar->CopyInformation(firstSar);
    opt->CopyInformation(firstOpt);
    sar->SetLargestPossibleRegion(region);
    opt->SetLargestPossibleRegion(region);
    sar->SetNumberOfComponentsPerPixel(firstSar->GetNumberOfComponentsPerPixel());
    opt->SetNumberOfComponentsPerPixel(firstOpt->GetNumberOfComponentsPerPixel());
    SetNodataMetadata(sar, m_SarNodataValue);
    SetNodataMetadata(opt, m_OptNodataValue);
  }
}

namespace decloud
{
/** True when every band of `v` equals `nodata` (NaN equals a NaN nodata): the original Decloud's nodata pixel. */
template <class T>
inline bool AllBandsNodata(const T* v, unsigned int bands, T nodata)
{
  const bool nanNodata = std::isnan(static_cast<double>(nodata));
  for (unsigned int b = 0; b < bands; ++b)
    if (!(v[b] == nodata || (nanNodata && std::isnan(static_cast<double>(v[b])))))
      return false;
  return true;
}
} // namespace decloud

template <class TImage>
void DecloudTimeSeriesPairsFilter<TImage>::ThreadedGenerateData(const RegionType& region, itk::ThreadIdType)
{
  using Value = typename TImage::InternalPixelType;
  const unsigned int sarBands = GetSarOutput(0)->GetNumberOfComponentsPerPixel();
  const unsigned int optBands = GetOptOutput(0)->GetNumberOfComponentsPerPixel();
  const Value        sarNodata = static_cast<Value>(m_SarNodataValue);
  const Value        optNodata = static_cast<Value>(m_OptNodataValue);
  const unsigned int inputs = this->GetNumberOfIndexedInputs();
  const unsigned int outputs = 2 * m_Slots;

  std::vector<const Value*> in(inputs);
  std::vector<Value*>       out(outputs);
  for (auto y = region.GetIndex(1); y < region.GetIndex(1) + static_cast<itk::IndexValueType>(region.GetSize(1)); ++y)
  {
    const itk::Index<2> start{{region.GetIndex(0), y}};
    for (unsigned int k = 0; k < inputs; ++k)
      in[k] = decloud::BufferPointer(this->GetInput(k), start, this->GetInput(k)->GetNumberOfComponentsPerPixel());
    for (unsigned int k = 0; k < outputs; ++k)
      out[k] = decloud::BufferPointer(this->GetOutput(k), start, k % 2 ? optBands : sarBands);
    for (size_t x = 0; x < region.GetSize(0); ++x)
    {
      unsigned int slot = 0;
      for (auto p = m_Pairs.begin(); p != m_Pairs.end() && slot < m_Slots; ++p)
      {
        const Value* sar = in[p->sar] + x * sarBands;
        const Value* opt = in[p->opt] + x * optBands;
        if (decloud::AllBandsNodata(sar, sarBands, sarNodata) || decloud::AllBandsNodata(opt, optBands, optNodata))
          continue;
        std::copy(sar, sar + sarBands, out[2 * slot] + x * sarBands);
        std::copy(opt, opt + optBands, out[2 * slot + 1] + x * optBands);
        ++slot;
      }
      for (; slot < m_Slots; ++slot)
      {
        std::fill(out[2 * slot] + x * sarBands, out[2 * slot] + (x + 1) * sarBands, sarNodata);
        std::fill(out[2 * slot + 1] + x * optBands, out[2 * slot + 1] + (x + 1) * optBands, optNodata);
      }
    }
  }
}

} // namespace otb
#endif
