#ifndef otbTensorflowMultisourceModelFilter_hxx
#define otbTensorflowMultisourceModelFilter_hxx

#include "otbTensorflowMultisourceModelFilter.h"

#include "otbImageMetadata.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <future>
#include <sstream>
#include <limits>

namespace otb
{

template <class TInputImage, class TOutputImage>
TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::TensorflowMultisourceModelFilter()
{
  m_OutputExpressionField.Fill(1);
  m_OutputGridSize.Fill(1);
  // Sources legitimately differ in origin and spacing: do not let ITK reject them.
  this->SetCoordinateTolerance(std::numeric_limits<double>::max());
  this->SetDirectionTolerance(std::numeric_limits<double>::max());
}

template <class TInputImage, class TOutputImage>
void TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::PushBackInputTensorBundle(
  const std::string& placeholder, const SizeType& receptiveField, const TInputImage* image, bool hasNodata,
  double nodataValue)
{
  this->SetNthInput(static_cast<unsigned int>(m_Sources.size()), const_cast<TInputImage*>(image));
  m_Sources.push_back(Source{placeholder, receptiveField, hasNodata, nodataValue});
}

template <class TInputImage, class TOutputImage>
void TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::AddUserPlaceholder(const std::string& name,
                                                                                       std::shared_ptr<TF_Tensor> value)
{
  m_UserPlaceholders.emplace_back(name, std::move(value));
  this->Modified();
}

template <class TInputImage, class TOutputImage>
typename TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::SizeType
TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::GetMinimumReceptiveField(unsigned int i) const
{
  SizeType minimum;
  for (unsigned int dim = 0; dim < 2; ++dim)
    minimum[dim] = static_cast<SizeValueType>(1 + (m_OutputExpressionField[dim] - 1) * m_OutputSpacingScale *
                                                     this->GetInput(0)->GetSpacing()[dim] /
                                                     this->GetInput(i)->GetSpacing()[dim]);
  return minimum;
}

template <class TInputImage, class TOutputImage>
void TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::ResolveTensors()
{
  if (!m_Model)
    itkExceptionMacro("No SavedModel set");
  const tf::Signature& sig = m_Model->GetServingSignature();

  std::vector<std::string> userKeys;
  for (const auto& p : m_UserPlaceholders)
    userKeys.push_back(p.first);

  // Inputs: named ones by key; unnamed ones take the signature's inputs in key order, skipping those
  // already named and the user placeholders.
  m_InputSpecs.assign(m_Sources.size(), tf::TensorSpec());
  std::vector<std::string> taken(userKeys);
  for (size_t i = 0; i < m_Sources.size(); ++i)
  {
    if (m_Sources[i].placeholder.empty())
      continue;
    const tf::TensorSpec* spec = sig.FindInput(m_Sources[i].placeholder);
    if (!spec)
      itkExceptionMacro("Source #" << i + 1 << ": the model has no input '" << m_Sources[i].placeholder
                                   << "' (inputs: " << tf::Signature::Keys(sig.inputs) << ")");
    m_InputSpecs[i] = *spec;
    taken.push_back(spec->key);
  }
  auto next = sig.inputs.begin();
  for (size_t i = 0; i < m_Sources.size(); ++i)
  {
    if (!m_Sources[i].placeholder.empty())
      continue;
    while (next != sig.inputs.end() && std::find(taken.begin(), taken.end(), next->key) != taken.end())
      ++next;
    if (next == sig.inputs.end())
      itkExceptionMacro("Source #" << i + 1 << " has no placeholder and no model input is left for it (inputs: "
                                   << tf::Signature::Keys(sig.inputs) << ")");
    m_InputSpecs[i] = *next++;
  }

  m_OutputSpecs.clear();
  m_OutputChannels.clear();
  if (m_OutputTensors.empty())
    m_OutputSpecs = sig.outputs;
  for (const auto& name : m_OutputTensors)
  {
    const tf::TensorSpec* spec = sig.FindOutput(name);
    if (!spec)
      itkExceptionMacro("The model has no output '" << name << "' (outputs: " << tf::Signature::Keys(sig.outputs) << ")");
    m_OutputSpecs.push_back(*spec);
  }
  for (const auto& spec : m_OutputSpecs)
  {
    const int64_t channels = spec.NumberOfChannels();
    if (channels <= 0 || spec.shape.size() > 4)
      itkExceptionMacro("Output '" << spec.key << "' (" << spec.ToString()
                                   << ") must have a known number of channels in its last dimension and rank <= 4");
    m_OutputChannels.push_back(static_cast<unsigned int>(channels));
  }
}

template <class TInputImage, class TOutputImage>
void TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::ImageToExtent(const TInputImage* image,
                                                                                 const SizeType&    receptiveField,
                                                                                 PointType&         extentInf,
                                                                                 PointType&         extentSup) const
{
  // The largest region shrunk by the receptive field: index + floor(RF/2), size - (RF - 1).
  RegionType region = image->GetLargestPossibleRegion();
  for (unsigned int dim = 0; dim < 2; ++dim)
  {
    const SizeValueType rf = receptiveField[dim];
    if (region.GetSize(dim) < rf)
      itkExceptionMacro("An input image is " << region.GetSize(0) << "x" << region.GetSize(1)
                                  << " pixels, smaller than its receptive field " << receptiveField[0] << "x"
                                  << receptiveField[1]);
    region.GetModifiableIndex()[dim] += rf / 2;
    region.GetModifiableSize()[dim] -= rf - 1;
  }
  PointType first, last;
  image->TransformIndexToPhysicalPoint(region.GetIndex(), first);
  image->TransformIndexToPhysicalPoint(region.GetUpperIndex(), last);
  // Extents are pixel corners, not centres.
  for (unsigned int dim = 0; dim < 2; ++dim)
  {
    extentInf[dim] = std::min(first[dim], last[dim]) - 0.5 * image->GetSpacing()[dim];
    extentSup[dim] = std::max(first[dim], last[dim]) + 0.5 * image->GetSpacing()[dim];
  }
}

template <class TInputImage, class TOutputImage>
void TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();

  const unsigned int nInputs = this->GetNumberOfIndexedInputs();
  if (nInputs == 0 || nInputs != m_Sources.size())
    itkExceptionMacro("Expected one image per source, got " << nInputs << " images for " << m_Sources.size()
                                                            << " sources");
  ResolveTensors();

  // Receptive fields must cover the expression field at each source's resolution.
  for (unsigned int i = 0; i < nInputs; ++i)
  {
    const SizeType minimum = GetMinimumReceptiveField(i);
    for (unsigned int dim = 0; dim < 2; ++dim)
      if (m_Sources[i].receptiveField[dim] < minimum[dim])
        itkExceptionMacro("Source #" << i + 1 << ": receptive field " << m_Sources[i].receptiveField[dim]
                                     << (dim ? " (y)" : " (x)") << " is smaller than " << minimum[dim]
                                     << ", the minimum for expression field " << m_OutputExpressionField[dim]
                                     << ", spacing scale " << m_OutputSpacingScale << ", reference spacing "
                                     << this->GetInput(0)->GetSpacing()[dim] << " and source spacing "
                                     << this->GetInput(i)->GetSpacing()[dim]);
  }

  if (m_PadBoundaries)
  {
    ComputePaddedOutputGrid();
    return;
  }

  const TInputImage* reference = this->GetInput(0);
  SpacingType        outputSpacing = reference->GetSpacing();
  outputSpacing[0] *= m_OutputSpacingScale;
  outputSpacing[1] *= -m_OutputSpacingScale; // north-up: negative y spacing

  // Output extent: intersection of the sources' extents shrunk by their receptive fields.
  PointType extentInf, extentSup;
  extentInf.Fill(std::numeric_limits<double>::lowest());
  extentSup.Fill(std::numeric_limits<double>::max());
  for (unsigned int i = 0; i < nInputs; ++i)
  {
    PointType inf, sup;
    ImageToExtent(this->GetInput(i), m_Sources[i].receptiveField, inf, sup);
    for (unsigned int dim = 0; dim < 2; ++dim)
    {
      extentInf[dim] = std::max(extentInf[dim], inf[dim]);
      extentSup[dim] = std::min(extentSup[dim], sup[dim]);
    }
  }
  if (extentInf[0] >= extentSup[0] || extentInf[1] >= extentSup[1])
    itkExceptionMacro("The sources do not overlap once shrunk by their receptive fields");

  PointType origin;
  origin[0] = extentInf[0] + 0.5 * reference->GetSpacing()[0];
  origin[1] = extentSup[1] - 0.5 * reference->GetSpacing()[1];
  SizeType size;
  size[0] = static_cast<SizeValueType>(std::floor((extentSup[0] - extentInf[0]) / std::abs(outputSpacing[0])));
  size[1] = static_cast<SizeValueType>(std::floor((extentSup[1] - extentInf[1]) / std::abs(outputSpacing[1])));

  // The expression field enlarges the output by floor(EF/2) on the upper-left side and EF - 1 in all.
  for (unsigned int dim = 0; dim < 2; ++dim)
  {
    origin[dim] -= outputSpacing[dim] * std::floor(0.5 * m_OutputExpressionField[dim]);
    size[dim] += m_OutputExpressionField[dim] - 1;
  }

  if (!m_ForceOutputGridSize)
    m_OutputGridSize = m_OutputExpressionField;
  for (unsigned int dim = 0; dim < 2; ++dim)
  {
    if (m_OutputGridSize[dim] > size[dim])
      itkExceptionMacro("The output grid (" << m_OutputGridSize[0] << "x" << m_OutputGridSize[1]
                                            << ") is larger than the output image (" << size[0] << "x" << size[1]
                                            << ")");
    size[dim] -= size[dim] % m_OutputGridSize[dim];
  }

  SetOutputGrid(origin, outputSpacing, size);
}

template <class TInputImage, class TOutputImage>
void TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::SetOutputGrid(const PointType&   origin,
                                                                                const SpacingType& spacing,
                                                                                const SizeType&    size)
{
  unsigned int nBands = 0;
  for (unsigned int c : m_OutputChannels)
    nBands += c;

  TOutputImage* output = this->GetOutput();
  RegionType    largest;
  largest.SetSize(size);
  output->SetLargestPossibleRegion(largest);
  output->SetOrigin(origin);
  output->SetSignedSpacing(spacing);
  output->SetProjectionRef(this->GetInput(0)->GetProjectionRef());
  output->SetNumberOfComponentsPerPixel(nBands);

  // Tiling hint for OTB's writer: stream by regions made of whole tiles (no tile computed twice).
  const bool tiled = m_ProcessingTileSize[0] > 0 && m_ProcessingTileSize[1] > 0;
  output->GetImageMetadata().Add(MDNum::TileHintX, static_cast<double>(tiled ? m_ProcessingTileSize[0] : m_OutputGridSize[0]));
  output->GetImageMetadata().Add(MDNum::TileHintY, static_cast<double>(tiled ? m_ProcessingTileSize[1] : m_OutputGridSize[1]));
}

template <class TInputImage, class TOutputImage>
void TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::ComputePaddedOutputGrid()
{
  if (!m_FullyConvolutional)
    itkExceptionMacro("Boundary padding needs the fully convolutional mode");
  const TInputImage* reference = this->GetInput(0);
  const SpacingType  inputSpacing = reference->GetSignedSpacing();
  SpacingType        outputSpacing = inputSpacing * m_OutputSpacingScale;
  // Same upper-left corner as source 1, whole output pixels inside its extent.
  PointType first;
  reference->TransformIndexToPhysicalPoint(reference->GetLargestPossibleRegion().GetIndex(), first);
  PointType origin;
  SizeType  size;
  for (unsigned int dim = 0; dim < 2; ++dim)
  {
    origin[dim] = first[dim] - 0.5 * inputSpacing[dim] + 0.5 * outputSpacing[dim];
    size[dim] = static_cast<SizeValueType>(std::floor(reference->GetLargestPossibleRegion().GetSize(dim) / m_OutputSpacingScale));
    if (size[dim] == 0)
      itkExceptionMacro("Source 1 is smaller than one output pixel");
  }
  if (!m_ForceOutputGridSize)
    m_OutputGridSize = m_OutputExpressionField;
  SetOutputGrid(origin, outputSpacing, size);
}

template <class TInputImage, class TOutputImage>
void TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::ComputeFirstCell(bool keepForOutput)
{
  TOutputImage* output = this->GetOutput();
  output->UpdateOutputInformation();
  RegionType first(output->GetLargestPossibleRegion().GetIndex(), m_OutputGridSize);
  first.Crop(output->GetLargestPossibleRegion()); // boundary padding: the grid may overhang the image
  output->SetRequestedRegion(first);
  output->PropagateRequestedRegion();
  m_KeptRuns.clear();
  m_KeepRuns = keepForOutput;
  try
  {
    output->UpdateOutputData();
  }
  catch (...)
  {
    m_KeepRuns = false;
    m_KeptRuns.clear();
    throw;
  }
  m_KeepRuns = false;
  output->ReleaseData();
  output->SetRequestedRegionToLargestPossibleRegion();
  m_KeptRunsTime = this->GetMTime();
}

template <class TInputImage, class TOutputImage>
void TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::EnlargeToAlignedRegion(RegionType& region) const
{
  for (unsigned int dim = 0; dim < 2; ++dim)
  {
    const IndexValueType grid = static_cast<IndexValueType>(m_OutputGridSize[dim]);
    IndexValueType       lower = region.GetIndex(dim);
    IndexValueType       upper = lower + static_cast<IndexValueType>(region.GetSize(dim));
    lower -= lower % grid;
    if (upper % grid > 0)
      upper += grid - upper % grid;
    region.SetIndex(dim, lower);
    region.SetSize(dim, static_cast<SizeValueType>(upper - lower));
  }
}

template <class TInputImage, class TOutputImage>
bool TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::ShrinksLastTiles() const
{
  return m_PadBoundaries && m_FullyConvolutional && m_ProcessingTileSize[0] > 0 && m_ProcessingTileSize[1] > 0 &&
         m_TileMultiple[0] > 0 && m_TileMultiple[1] > 0;
}

template <class TInputImage, class TOutputImage>
typename TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::RegionType
TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::OutputRegionToInputRegion(const RegionType& outputRegion,
                                                                                       const TInputImage* input) const
{
  // Pixel centres of the first and last output pixels, moved by half an input pixel minus half an
  // output pixel so that they land on the centres of the input pixels that the region covers.
  PointType start, end;
  this->GetOutput()->TransformIndexToPhysicalPoint(outputRegion.GetIndex(), start);
  this->GetOutput()->TransformIndexToPhysicalPoint(outputRegion.GetUpperIndex(), end);
  const SpacingType outputSpacing = this->GetOutput()->GetSpacing();
  const SpacingType inputSpacing = input->GetSpacing();
  for (unsigned int dim = 0; dim < 2; ++dim)
  {
    const double border = 0.5 * (inputSpacing[dim] - outputSpacing[dim]);
    if (start[dim] < end[dim])
    {
      start[dim] += border;
      end[dim] -= border;
    }
    else
    {
      start[dim] -= border;
      end[dim] += border;
    }
  }
  // Not cropped to the image: regions beyond it are legitimate in boundary-padding mode.
  IndexType startIndex, endIndex;
  input->TransformPhysicalPointToIndex(start, startIndex);
  input->TransformPhysicalPointToIndex(end, endIndex);
  RegionType inputRegion;
  for (unsigned int dim = 0; dim < 2; ++dim)
  {
    inputRegion.SetIndex(dim, std::min(startIndex[dim], endIndex[dim]));
    inputRegion.SetSize(dim, static_cast<SizeValueType>(std::max(startIndex[dim], endIndex[dim]) -
                                                        inputRegion.GetIndex(dim) + 1));
  }
  return inputRegion;
}

template <class TInputImage, class TOutputImage>
typename TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::RegionType
TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::InputRegionFor(unsigned int i, const RegionType& aligned) const
{
  RegionType region = VirtualInputRegionFor(i, aligned);
  if (!region.Crop(this->GetInput(i)->GetLargestPossibleRegion()))
  {
    region.GetModifiableIndex().Fill(0);
    region.GetModifiableSize().Fill(0);
  }
  return region;
}

template <class TInputImage, class TOutputImage>
typename TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::RegionType
TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::VirtualInputRegionFor(unsigned int i, const RegionType& aligned) const
{
  const TInputImage* input = this->GetInput(i);
  RegionType         inRegion = OutputRegionToInputRegion(aligned, input);
  if (!m_PadBoundaries)
  {
    // OTBTF: what falls outside the image is dropped (the output grid keeps tiles inside in this mode).
    if (!inRegion.Crop(input->GetLargestPossibleRegion()))
    {
      inRegion.GetModifiableIndex().Fill(0);
      inRegion.GetModifiableSize().Fill(0);
    }
  }
  // Pad by what the receptive field adds to the footprint of the expression field. With boundary padding,
  // the footprint is the mapped region itself (exact when the output grid is a multiple of the source's),
  // so that every tensor has exactly the receptive field's size; a tile shrunk to the image's end
  // (SetTileMultiple) keeps a whole tile's margin.
  const SizeType minimum = GetMinimumReceptiveField(i);
  const bool     shrunk = ShrinksLastTiles();
  RegionType     whole;
  if (shrunk)
    whole = OutputRegionToInputRegion(RegionType(aligned.GetIndex(), m_ProcessingTileSize), input);
  for (unsigned int dim = 0; dim < 2; ++dim)
  {
    const SizeValueType footprint = m_PadBoundaries ? inRegion.GetSize(dim) : minimum[dim];
    const SizeValueType full = shrunk ? whole.GetSize(dim) : footprint;
    if (m_Sources[i].receptiveField[dim] < full || footprint > full)
      itkExceptionMacro("Source #" << i + 1 << ": receptive field " << m_Sources[i].receptiveField[dim]
                                   << " is smaller than the " << std::max(footprint, full) << " pixels a tile covers");
    const SizeValueType pad = m_Sources[i].receptiveField[dim] - full;
    const SizeValueType right = pad / 2;
    inRegion.GetModifiableIndex()[dim] -= static_cast<IndexValueType>(pad - right);
    inRegion.GetModifiableSize()[dim] += pad;
  }
  // Patch-based: a source coarser than the output may need one more pixel when grids are not aligned.
  if (!m_FullyConvolutional)
    inRegion.PadByRadius(1);
  return inRegion;
}

template <class TInputImage, class TOutputImage>
std::vector<typename TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::RegionType>
TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::TilesCovering(const RegionType& requested) const
{
  RegionType aligned(requested);
  EnlargeToAlignedRegion(aligned);
  if (m_ProcessingTileSize[0] == 0 || m_ProcessingTileSize[1] == 0)
    return {aligned};
  // Cells of the tile grid anchored at the output origin, cropped to the image. Tiles are multiples of
  // the expression field and so is the image size: every cell is aligned.
  const RegionType        largest = this->GetOutput()->GetLargestPossibleRegion();
  std::vector<RegionType> tiles;
  IndexType               first, last;
  for (unsigned int dim = 0; dim < 2; ++dim)
  {
    const auto tile = static_cast<IndexValueType>(m_ProcessingTileSize[dim]);
    first[dim] = (aligned.GetIndex(dim) - largest.GetIndex(dim)) / tile;
    last[dim] = (aligned.GetUpperIndex()[dim] - largest.GetIndex(dim)) / tile;
  }
  for (auto ty = first[1]; ty <= last[1]; ++ty)
    for (auto tx = first[0]; tx <= last[0]; ++tx)
    {
      IndexType index;
      index[0] = largest.GetIndex(0) + tx * static_cast<IndexValueType>(m_ProcessingTileSize[0]);
      index[1] = largest.GetIndex(1) + ty * static_cast<IndexValueType>(m_ProcessingTileSize[1]);
      RegionType tile(index, m_ProcessingTileSize);
      if (!m_PadBoundaries)
        tile.Crop(largest);
      else if (ShrinksLastTiles())
        for (unsigned int dim = 0; dim < 2; ++dim)
        {
          // the last tiles: what is left of the image, rounded up to the multiple (decloud::LastTile)
          const auto left = static_cast<SizeValueType>(largest.GetUpperIndex()[dim] - index[dim] + 1);
          const auto multiple = m_TileMultiple[dim];
          tile.SetSize(dim, std::min(m_ProcessingTileSize[dim], (left + multiple - 1) / multiple * multiple));
        }
      tiles.push_back(tile);
    }
  return tiles;
}

template <class TInputImage, class TOutputImage>
void TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::GenerateInputRequestedRegion()
{
  Superclass::GenerateInputRequestedRegion();
  // Without tiling: the whole aligned region. With tiling: only the first tile; GenerateData() pulls
  // the others one by one, so that upstream never holds more than one tile.
  const RegionType first = TilesCovering(this->GetOutput()->GetRequestedRegion()).front();
  for (unsigned int i = 0; i < this->GetNumberOfIndexedInputs(); ++i)
    const_cast<TInputImage*>(this->GetInput(i))->SetRequestedRegion(InputRegionFor(i, first));
}

namespace detail
{
/** Copy `region` of a pixel-interleaved vector image into `dest` (row-major, bands last), casting to T. */
template <class T, class TImage>
void CopyRegionToBuffer(const TImage* image, const typename TImage::RegionType& region, T* dest)
{
  const auto&  buffered = image->GetBufferedRegion();
  const size_t nBands = image->GetNumberOfComponentsPerPixel();
  const size_t rowLength = region.GetSize(0) * nBands;
  const auto*  base = image->GetBufferPointer();
  for (size_t y = 0; y < region.GetSize(1); ++y)
  {
    const size_t row = region.GetIndex(1) + y - buffered.GetIndex(1);
    const size_t col = region.GetIndex(0) - buffered.GetIndex(0);
    const auto*  src = base + (row * buffered.GetSize(0) + col) * nBands;
    T*           dst = dest + y * rowLength;
    if (std::is_same<T, typename TImage::InternalPixelType>::value)
      std::memcpy(dst, src, rowLength * sizeof(T));
    else
      for (size_t k = 0; k < rowLength; ++k)
        dst[k] = static_cast<T>(src[k]);
  }
}
/** Index of `v` mirrored into [lo, hi] (numpy's "reflect"), then clamped there. */
inline long MirrorIndex(long v, long lo, long hi)
{
  if (hi <= lo)
    return lo;
  if (v < lo)
    v = 2 * lo - v;
  if (v > hi)
    v = 2 * hi - v;
  return std::min(std::max(v, lo), hi);
}

/** Like CopyRegionToBuffer, for a region that extends beyond the image: outside pixels are mirrored. */
template <class T, class TImage>
void CopyMirroredRegionToBuffer(const TImage* image, const typename TImage::RegionType& region, T* dest)
{
  const auto&  largest = image->GetLargestPossibleRegion();
  const auto&  buffered = image->GetBufferedRegion();
  const size_t nBands = image->GetNumberOfComponentsPerPixel();
  const auto*  base = image->GetBufferPointer();
  auto         source = [&](long v, unsigned int dim) {
    long m = MirrorIndex(v, largest.GetIndex(dim), largest.GetUpperIndex()[dim]);
    return std::min(std::max(m, static_cast<long>(buffered.GetIndex(dim))), static_cast<long>(buffered.GetUpperIndex()[dim]));
  };
  std::vector<size_t> columns(region.GetSize(0));
  for (size_t x = 0; x < columns.size(); ++x)
    columns[x] = static_cast<size_t>(source(region.GetIndex(0) + static_cast<long>(x), 0) - buffered.GetIndex(0));
  for (size_t y = 0; y < region.GetSize(1); ++y)
  {
    const size_t row = static_cast<size_t>(source(region.GetIndex(1) + static_cast<long>(y), 1) - buffered.GetIndex(1));
    const auto*  srcRow = base + row * buffered.GetSize(0) * nBands;
    T*           dst = dest + y * region.GetSize(0) * nBands;
    for (size_t x = 0; x < columns.size(); ++x)
      for (size_t b = 0; b < nBands; ++b)
        dst[x * nBands + b] = static_cast<T>(srcRow[columns[x] * nBands + b]);
  }
}
} // namespace detail

template <class TInputImage, class TOutputImage>
tf::TensorPtr TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::MakeInputTensor(unsigned int      i,
                                                                                         const RegionType& aligned,
                                                                                         bool& allNodata) const
{
  const TInputImage* input = this->GetInput(i);
  const int64_t      nBands = input->GetNumberOfComponentsPerPixel();
  const RegionType   buffered = input->GetBufferedRegion();
  const Source&      source = m_Sources[i];
  const TF_DataType  dtype = m_InputSpecs[i].dtype;

  tf::TensorPtr tensor;
  size_t        nValues = 0;
  if (m_FullyConvolutional)
  {
    const RegionType region = m_PadBoundaries ? VirtualInputRegionFor(i, aligned) : InputRegionFor(i, aligned);
    const bool       inside = buffered.IsInside(region);
    if (!inside && !m_PadBoundaries)
      itkExceptionMacro("Source #" << i + 1 << ": region " << region << " is not buffered (" << buffered << ")");
    tensor = tf::AllocateTensor(dtype, {1, static_cast<int64_t>(region.GetSize(1)),
                                        static_cast<int64_t>(region.GetSize(0)), nBands});
    nValues = region.GetNumberOfPixels() * nBands;
    tf::DispatchNumericType(dtype, [&](auto zero) {
      using T = decltype(zero);
      if (inside)
        detail::CopyRegionToBuffer<T>(input, region, static_cast<T*>(tf::C().TensorData(tensor.get())));
      else
        detail::CopyMirroredRegionToBuffer<T>(input, region, static_cast<T*>(tf::C().TensorData(tensor.get())));
    });
  }
  else
  {
    const SizeType& ef = m_OutputExpressionField;
    const SizeType& rf = source.receptiveField;
    const size_t    blocksX = aligned.GetSize(0) / ef[0];
    const size_t    blocksY = aligned.GetSize(1) / ef[1];
    const size_t    patchValues = rf[0] * rf[1] * nBands;
    tensor = tf::AllocateTensor(dtype, {static_cast<int64_t>(blocksX * blocksY), static_cast<int64_t>(rf[1]),
                                        static_cast<int64_t>(rf[0]), nBands});
    nValues = blocksX * blocksY * patchValues;
    tf::DispatchNumericType(dtype, [&](auto zero) {
      using T = decltype(zero);
      T* data = static_cast<T*>(tf::C().TensorData(tensor.get()));
      for (size_t by = 0; by < blocksY; ++by)
        for (size_t bx = 0; bx < blocksX; ++bx)
        {
          IndexType center = aligned.GetIndex();
          center[0] += bx * ef[0] + ef[0] / 2;
          center[1] += by * ef[1] + ef[1] / 2;
          PointType point;
          this->GetOutput()->TransformIndexToPhysicalPoint(center, point);
          IndexType inputCenter;
          input->TransformPhysicalPointToIndex(point, inputCenter);
          IndexType start;
          start[0] = inputCenter[0] - static_cast<IndexValueType>(rf[0] / 2);
          start[1] = inputCenter[1] - static_cast<IndexValueType>(rf[1] / 2);
          const RegionType patch(start, rf);
          if (!buffered.IsInside(patch))
            itkExceptionMacro("Source #" << i + 1 << ": patch at index " << start << " of size " << rf
                                         << " is outside the buffered region " << buffered);
          detail::CopyRegionToBuffer<T>(input, patch, data + (by * blocksX + bx) * patchValues);
        }
    });
  }

  allNodata = false;
  if (source.hasNodata)
  {
    tf::DispatchNumericType(dtype, [&](auto zero) {
      using T = decltype(zero);
      const T* data = static_cast<const T*>(tf::C().TensorData(tensor.get()));
      const T  nodata = static_cast<T>(source.nodataValue);
      allNodata = std::all_of(data, data + nValues, [nodata](T v) { return v == nodata; });
    });
  }
  return tensor;
}

template <class TInputImage, class TOutputImage>
void TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::PullInputs(const RegionType& tile)
{
  for (unsigned int i = 0; i < this->GetNumberOfIndexedInputs(); ++i)
  {
    TInputImage* input = const_cast<TInputImage*>(this->GetInput(i));
    input->SetRequestedRegion(InputRegionFor(i, tile));
    input->PropagateRequestedRegion();
    input->UpdateOutputData();
  }
}

template <class TInputImage, class TOutputImage>
typename TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::PendingRun
TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::LaunchRun(const RegionType& tile)
{
  PendingRun run;
  run.tile = tile;
  std::vector<TF_Output>  feeds;
  std::vector<TF_Tensor*> values;
  for (unsigned int i = 0; i < this->GetNumberOfIndexedInputs(); ++i)
  {
    bool allNodata = false;
    run.inputs.push_back(MakeInputTensor(i, tile, allNodata));
    if (allNodata)
    {
      run.skipped = true; // a source is entirely nodata: keep the background value
      return run;
    }
    feeds.push_back(m_Model->ResolveTensor(m_InputSpecs[i].tensorName));
    values.push_back(run.inputs.back().get());
  }
  const tf::Signature& sig = m_Model->GetServingSignature();
  for (const auto& p : m_UserPlaceholders)
  {
    const tf::TensorSpec* spec = sig.FindInput(p.first);
    if (!spec)
      itkExceptionMacro("The model has no input '" << p.first << "' for a user placeholder (inputs: "
                                                   << tf::Signature::Keys(sig.inputs) << ")");
    feeds.push_back(m_Model->ResolveTensor(spec->tensorName));
    values.push_back(p.second.get());
  }
  std::vector<TF_Output> fetches;
  for (const auto& spec : m_OutputSpecs)
    fetches.push_back(m_Model->ResolveTensor(spec.tensorName));
  // TensorFlow owns copies of the inputs from here on: the caller may pull the next tile meanwhile.
  auto model = m_Model;
  run.results = std::async(std::launch::async, [model, feeds, values, fetches]() { return model->Run(feeds, values, fetches); });
  ++m_NumberOfNetworkRuns;
  return run;
}

template <class TInputImage, class TOutputImage>
typename TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::PendingRun
TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::StartRun(const RegionType& tile, bool pullInputs)
{
  if (!m_KeptRuns.empty() && this->GetMTime() != m_KeptRunsTime)
    m_KeptRuns.clear(); // the filter was modified since ComputeFirstCell()
  for (auto kept = m_KeptRuns.begin(); kept != m_KeptRuns.end(); ++kept)
    if (kept->tile == tile)
    {
      PendingRun run;
      run.tile = tile;
      run.skipped = kept->skipped;
      std::promise<std::vector<tf::TensorPtr>> results;
      results.set_value(std::move(kept->results));
      run.results = results.get_future();
      m_KeptRuns.erase(kept);
      ++m_NumberOfReusedRuns;
      return run;
    }
  if (pullInputs)
    PullInputs(tile);
  return LaunchRun(tile);
}

template <class TInputImage, class TOutputImage>
void TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::FinishRun(PendingRun& run)
{
  if (run.skipped)
  {
    if (m_KeepRuns)
      m_KeptRuns.push_back({run.tile, true, {}});
    return;
  }
  std::vector<tf::TensorPtr> results;
  try
  {
    results = run.results.get();
  }
  catch (const std::exception& e)
  {
    std::ostringstream shapes;
    for (unsigned int i = 0; i < run.inputs.size(); ++i)
      shapes << (i ? ", " : "") << m_InputSpecs[i].key << " " << tf::ShapeToString(tf::TensorShape(run.inputs[i].get()));
    itkExceptionMacro(<< e.what() << " (inputs: " << shapes.str() << "; output tile " << run.tile.GetSize(0) << "x"
                      << run.tile.GetSize(1) << ")");
  }

  // Copy each output tensor into its bands of the output buffer, where the tile meets the buffer.
  TOutputImage*    output = this->GetOutput();
  const RegionType buffered = output->GetBufferedRegion();
  RegionType       part = run.tile;
  const bool       meetsBuffer = part.Crop(buffered);
  const size_t     nBands = output->GetNumberOfComponentsPerPixel();
  const size_t     efx = m_OutputExpressionField[0], efy = m_OutputExpressionField[1];
  const size_t     blocksX = run.tile.GetSize(0) / efx;
  OutputValueType* outBuffer = output->GetBufferPointer();
  size_t           bandOffset = 0;
  for (size_t k = 0; meetsBuffer && k < results.size(); ++k)
  {
    TF_Tensor*   t = results[k].get();
    const size_t channels = m_OutputChannels[k];
    const size_t expected = run.tile.GetNumberOfPixels() * channels;
    const size_t actual = static_cast<size_t>(tf::C().TensorElementCount(t));
    if (actual != expected)
      itkExceptionMacro("Output '" << m_OutputSpecs[k].key << "' has shape " << tf::ShapeToString(tf::TensorShape(t))
                                   << " (" << actual << " values) but the tile " << run.tile.GetSize(0) << "x"
                                   << run.tile.GetSize(1) << " x " << channels << " bands needs " << expected
                                   << ": check the receptive field, the expression field "
                                   << "and the spacing scale against the model's strides");
    tf::DispatchNumericType(tf::C().TensorType(t), [&](auto zero) {
      using T = decltype(zero);
      const T* data = static_cast<const T*>(tf::C().TensorData(t));
      for (size_t y = 0; y < part.GetSize(1); ++y)
      {
        const size_t     row = part.GetIndex(1) + y;
        const size_t     ty = row - run.tile.GetIndex(1);
        OutputValueType* outRow = outBuffer +
                                  ((row - buffered.GetIndex(1)) * buffered.GetSize(0) + (part.GetIndex(0) - buffered.GetIndex(0))) * nBands +
                                  bandOffset;
        for (size_t x = 0; x < part.GetSize(0); ++x)
        {
          const size_t tx = part.GetIndex(0) + x - run.tile.GetIndex(0);
          // Fully convolutional: raster order over the tile. Patch-based: block-major, then raster
          // order inside the block (identical when EF = 1).
          const size_t pos = m_FullyConvolutional
                               ? ty * run.tile.GetSize(0) + tx
                               : ((ty / efy) * blocksX + tx / efx) * efx * efy + (ty % efy) * efx + tx % efx;
          const T*         src = data + pos * channels;
          OutputValueType* dst = outRow + x * nBands;
          for (size_t c = 0; c < channels; ++c)
            dst[c] = static_cast<OutputValueType>(src[c]);
        }
      }
    });
    bandOffset += channels;
  }
  if (m_KeepRuns)
    m_KeptRuns.push_back({run.tile, false, std::move(results)});
}

template <class TInputImage, class TOutputImage>
void TensorflowMultisourceModelFilter<TInputImage, TOutputImage>::GenerateData()
{
  TOutputImage* output = this->GetOutput();
  output->SetBufferedRegion(output->GetRequestedRegion());
  output->Allocate();
  typename TOutputImage::PixelType background;
  background.SetSize(output->GetNumberOfComponentsPerPixel());
  background.Fill(static_cast<OutputValueType>(m_BackgroundValue));
  output->FillBuffer(background);

  // Software pipelining: while TensorFlow runs tile k (its own threads), this thread pulls the inputs
  // of tile k + 1 (reading, upstream filters) and copies them into tensors. The first tile's inputs were
  // updated by the pipeline itself. A tile that ComputeFirstCell() ran is not run again.
  const std::vector<RegionType> tiles = TilesCovering(output->GetRequestedRegion());
  PendingRun                    current = StartRun(tiles.front(), false);
  for (size_t k = 0; k < tiles.size(); ++k)
  {
    PendingRun next;
    if (k + 1 < tiles.size())
    {
      next = StartRun(tiles[k + 1], true);
    }
    FinishRun(current);
    current = std::move(next);
    this->UpdateProgress(static_cast<float>(k + 1) / tiles.size());
  }
}

} // namespace otb

#endif
