#ifndef otbDecloudCloudTransitionFilter_hxx
#define otbDecloudCloudTransitionFilter_hxx

#include "otbDecloudCloudTransitionFilter.h"

#include <algorithm>
#include <vector>

namespace otb
{

template <class TInputImage, class TOutputImage>
void DecloudCloudTransitionFilter<TInputImage, TOutputImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();
  this->GetOutput()->SetNumberOfComponentsPerPixel(1);
}

template <class TInputImage, class TOutputImage>
void DecloudCloudTransitionFilter<TInputImage, TOutputImage>::GenerateInputRequestedRegion()
{
  Superclass::GenerateInputRequestedRegion();
  auto*      input = const_cast<TInputImage*>(this->GetInput());
  RegionType region = this->GetOutput()->GetRequestedRegion();
  region.PadByRadius(m_Transition);
  region.Crop(input->GetLargestPossibleRegion());
  input->SetRequestedRegion(region);
}

template <class TInputImage, class TOutputImage>
void DecloudCloudTransitionFilter<TInputImage, TOutputImage>::ThreadedGenerateData(const RegionType& region, itk::ThreadIdType)
{
  const TInputImage* input = this->GetInput();
  TOutputImage*      output = this->GetOutput();
  const long         T = m_Transition;
  const RegionType   buffered = input->GetBufferedRegion();
  RegionType         padded = region;
  padded.PadByRadius(T);
  padded.Crop(buffered);

  // Pass 1: for each row of the padded region and each column of the region, the distance along the
  // row to the nearest cloud (T + 1 when farther than T).
  const long x0 = region.GetIndex(0), w = region.GetSize(0);
  const long y0 = padded.GetIndex(1), h = padded.GetSize(1);
  const long bx0 = buffered.GetIndex(0), bx1 = buffered.GetUpperIndex()[0];
  const long   by0 = buffered.GetIndex(1), bw = buffered.GetSize(0);
  const size_t nIn = input->GetNumberOfComponentsPerPixel();
  const auto*  in = input->GetBufferPointer();
  std::vector<long> rowDistance(static_cast<size_t>(w * h), T + 1);
  for (long y = 0; y < h; ++y)
  {
    const long cx0 = std::max(bx0, x0 - T), cx1 = std::min(bx1, x0 + w - 1 + T);
    std::vector<char> cloudy(static_cast<size_t>(cx1 - cx0 + 1));
    const auto* row = in + (y0 + y - by0) * bw * nIn;
    for (long x = cx0; x <= cx1; ++x)
      cloudy[x - cx0] = row[(x - bx0) * nIn] != 0;
    for (long x = 0; x < w; ++x)
    {
      long&      d = rowDistance[y * w + x];
      const long cx = x0 + x;
      for (long k = 0; k <= T && d > k; ++k)
        if ((cx - k >= cx0 && cloudy[cx - k - cx0]) || (cx + k <= cx1 && cloudy[cx + k - cx0]))
          d = k;
    }
  }
  // Pass 2: along columns, Chebyshev distance = min over dy of max(|dy|, row distance).
  const long  ry0 = region.GetIndex(1);
  const auto& outBuffered = output->GetBufferedRegion();
  auto*       out = output->GetBufferPointer();
  for (long y = 0; y < static_cast<long>(region.GetSize(1)); ++y)
  {
    const long py = ry0 + y - y0;
    auto*      outRow = out + (ry0 + y - outBuffered.GetIndex(1)) * outBuffered.GetSize(0) + (x0 - outBuffered.GetIndex(0));
    for (long x = 0; x < w; ++x)
    {
      // The rows nearest first: a row k away gives k at least, so none gives less once k reaches d (inside a
      // cloud, d is 0 at once and no other row is read).
      long d = std::min(T + 1, rowDistance[py * w + x]);
      for (long k = 1; k < d; ++k)
      {
        if (py - k >= 0)
          d = std::min(d, std::max(k, rowDistance[(py - k) * w + x]));
        if (py + k < h)
          d = std::min(d, std::max(k, rowDistance[(py + k) * w + x]));
      }
      double weight = 0.0;
      if (d <= T)
      {
        const double u = 1.0 - static_cast<double>(d) / (T + 1);
        weight = u * u * (3.0 - 2.0 * u);
      }
      outRow[x] = static_cast<typename TOutputImage::InternalPixelType>(weight);
    }
  }
}

} // namespace otb
#endif
