/*
 * Decloud: streamed inference of a TensorFlow SavedModel over several co-registered image sources.
 */
#ifndef otbTensorflowMultisourceModelFilter_h
#define otbTensorflowMultisourceModelFilter_h

#include "otbTensorflowCAPI.h"

#include "itkImageToImageFilter.h"

#include <future>
#include <list>
#include <memory>
#include <string>
#include <vector>

namespace otb
{

/**
 * \class TensorflowMultisourceModelFilter
 * \brief Runs a SavedModel's serving signature on N image sources, tile by tile, with OTBTF's semantics.
 *
 * Each source i has a *receptive field* RF_i (the input patch the network sees, in pixels of source i)
 * and feeds one input of the signature (its key, the OTBTF "placeholder"). The output has one
 * *expression field* EF (pixels produced per patch, in output pixels) and an *output spacing scale* S:
 * output spacing = S x spacing of source 1, y spacing negative.
 *
 * Output geometry (exactly OTBTF's): the extent of every source shrunk by half its RF, intersected;
 * origin = that extent's upper-left pixel centre on source 1's spacing, moved up-left by floor(EF/2)
 * output pixels; size = floor(extent / output spacing) + EF - 1, then truncated to a multiple of the
 * output grid (EF by default, or the forced grid). CRS from source 1.
 *
 * Streaming contract: an output requested region is first enlarged to the grid (aligned region: index
 * and upper bound on multiples of the grid), then split into processing tiles if a tile size is set. For each source, the aligned region is mapped to the source's
 * pixel grid (pixel-centre rule, as OTB's Mosaic), then padded by RF_i - (1 + (EF - 1) * S * spc_1 / spc_i)
 * pixels (left: the larger half), plus 1 pixel in patch-based mode, and cropped to the source.
 * RF_i smaller than 1 + (EF - 1) * S * spc_1 / spc_i is an error.
 *
 * Modes:
 *  - fully convolutional: each source's requested region is one tensor [1, H_i, W_i, C_i]; each output
 *    tensor must be [1, H, W, C] (or any shape with H x W x C elements) for the aligned region.
 *  - patch-based: one patch per output block of EF pixels (one per pixel when EF = 1, as OTBTF), of
 *    RF_i x RF_i pixels centred on the block's centre pixel; tensors [N, RF_y, RF_x, C_i]; each output
 *    tensor holds N x EF_y x EF_x x C values ([N, C] when EF = 1).
 * Outputs are stacked along bands in the order given (all signature outputs sorted by key if none).
 *
 * Boundary padding (fully convolutional only, SetPadBoundaries(true)): the output covers the whole grid of
 * source 1 (at the spacing scale) instead of OTBTF's shrunk extent; tiles are never cropped to the image,
 * and input pixels beyond a source's edges are mirrored (numpy's "reflect": the edge pixel is not repeated;
 * farther than one image width they are clamped). Output pixels beyond the image are not written.
 *
 * Nodata: a source with a nodata value whose whole tensor for a tile equals it skips the tile: the
 * network is not run and the output tile is filled with the background value (OTBTF's rule). Every
 * output pixel that no tensor covers also holds the background value.
 *
 * Buffers are copied row by row (OTB vector images are pixel-interleaved, i.e. NHWC), with a cast loop
 * only where the model's input dtype differs from the image's pixel type.
 */
template <class TInputImage, class TOutputImage>
class ITK_EXPORT TensorflowMultisourceModelFilter : public itk::ImageToImageFilter<TInputImage, TOutputImage>
{
public:
  using Self = TensorflowMultisourceModelFilter;
  using Superclass = itk::ImageToImageFilter<TInputImage, TOutputImage>;
  using Pointer = itk::SmartPointer<Self>;
  using ConstPointer = itk::SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(TensorflowMultisourceModelFilter, itk::ImageToImageFilter);

  using InputImageType = TInputImage;
  using OutputImageType = TOutputImage;
  using RegionType = typename TInputImage::RegionType;
  using SizeType = typename TInputImage::SizeType;
  using IndexType = typename TInputImage::IndexType;
  using PointType = typename TInputImage::PointType;
  using SpacingType = typename TInputImage::SpacingType;
  using SizeValueType = typename SizeType::SizeValueType;
  using IndexValueType = typename IndexType::IndexValueType;
  using InputValueType = typename TInputImage::InternalPixelType;
  using OutputValueType = typename TOutputImage::InternalPixelType;
  using ModelPointer = std::shared_ptr<const tf::SavedModel>;

  /** Per-source settings. */
  struct Source
  {
    std::string placeholder;     // signature input key; empty: the i-th input (sorted by key)
    SizeType    receptiveField;  // pixels of this source
    bool        hasNodata = false;
    double      nodataValue = 0.0;
  };

  void SetModel(ModelPointer model) { m_Model = std::move(model); this->Modified(); }
  const ModelPointer& GetModel() const { return m_Model; }

  /** Add a source (its image, placeholder, receptive field and optional nodata value). */
  void PushBackInputTensorBundle(const std::string& placeholder, const SizeType& receptiveField, const TInputImage* image,
                                 bool hasNodata = false, double nodataValue = 0.0);
  const std::vector<Source>& GetSources() const { return m_Sources; }

  /** Output signature keys, stacked along bands in this order. Empty: all outputs, sorted by key. */
  void SetOutputTensors(const std::vector<std::string>& names) { m_OutputTensors = names; this->Modified(); }

  /** Extra scalar/vector inputs fed to every run (OTBTF's model.userplaceholders). */
  void AddUserPlaceholder(const std::string& name, std::shared_ptr<TF_Tensor> value);

  itkSetMacro(OutputExpressionField, SizeType);
  itkGetConstMacro(OutputExpressionField, SizeType);
  itkSetMacro(OutputSpacingScale, double);
  itkGetConstMacro(OutputSpacingScale, double);
  itkSetMacro(FullyConvolutional, bool);
  itkGetConstMacro(FullyConvolutional, bool);
  itkSetMacro(PadBoundaries, bool);
  itkGetConstMacro(PadBoundaries, bool);
  itkSetMacro(BackgroundValue, double);
  itkGetConstMacro(BackgroundValue, double);

  /**
   * Process requested regions tile by tile (0 x 0: each requested region at once, OTBTF's behaviour
   * with optim.disabletiling). Must be a multiple of the expression field. Tiles are the cells of a
   * grid anchored at the output origin; inputs are pulled one tile at a time (bounded memory) and the
   * next tile is read while TensorFlow runs the current one.
   */
  void SetProcessingTileSize(const SizeType& size) { m_ProcessingTileSize = size; this->Modified(); }
  itkGetConstMacro(ProcessingTileSize, SizeType);

  /**
   * With boundary padding and processing tiles: a tile that the image ends in is computed on what it covers of the
   * image, rounded up to a multiple of this (the model's spatial multiple at the output's resolution), not on a
   * whole tile of mirrored pixels; its inputs keep the margin a whole tile's have (the receptive field less the
   * tile's footprint). 0 x 0 (the default): whole tiles. decloud::LastTile gives the size.
   */
  void SetTileMultiple(const SizeType& multiple) { m_TileMultiple = multiple; this->Modified(); }
  itkGetConstMacro(TileMultiple, SizeType);

  /** Force the grid that requested regions are aligned to (default: the expression field). */
  void SetOutputGridSize(const SizeType& size) { m_OutputGridSize = size; m_ForceOutputGridSize = true; this->Modified(); }
  itkGetConstMacro(OutputGridSize, SizeType);

  /** Signature specs resolved by GenerateOutputInformation(). */
  const std::vector<tf::TensorSpec>& GetInputSpecs() const { return m_InputSpecs; }
  const std::vector<tf::TensorSpec>& GetOutputSpecs() const { return m_OutputSpecs; }

  /**
   * Compute the output's first grid cell now, then release it: a model that fails on these inputs fails
   * here, before a writer creates the output file. Throws what the pipeline throws. With `keepForOutput`, the
   * network's outputs for the tiles this computes are kept, and the next GenerateData() that needs one of them uses
   * them instead of running the network on that tile again, unless the filter was modified since: for a caller that
   * writes the output next without changing what feeds the filter (the apps: probe, then write).
   */
  void ComputeFirstCell(bool keepForOutput = false);

  /** How many tiles the network has run on, and how many were taken from ComputeFirstCell()'s, since construction. */
  itkGetConstMacro(NumberOfNetworkRuns, unsigned long);
  itkGetConstMacro(NumberOfReusedRuns, unsigned long);

  /** Minimum receptive field of source i (per dimension) for the current EF, scale and spacings. */
  SizeType GetMinimumReceptiveField(unsigned int i) const;

protected:
  TensorflowMultisourceModelFilter();
  ~TensorflowMultisourceModelFilter() override = default;

  void GenerateOutputInformation() override;
  void GenerateInputRequestedRegion() override;
  void GenerateData() override;

  /** Enlarge a region so that its index and upper bound lie on the output grid. */
  void EnlargeToAlignedRegion(RegionType& region) const;
  /** Whether the tiles the image ends in are shrunk to it (SetTileMultiple, with boundary padding and tiles). */
  bool ShrinksLastTiles() const;

private:
  TensorflowMultisourceModelFilter(const Self&) = delete;
  void operator=(const Self&) = delete;

  /** A tile whose inputs are in tensors and whose TensorFlow run is in flight (or skipped). */
  struct PendingRun
  {
    RegionType                              tile;
    std::vector<tf::TensorPtr>              inputs;
    bool                                    skipped = false;
    std::future<std::vector<tf::TensorPtr>> results;
  };

  void ResolveTensors();
  std::vector<RegionType> TilesCovering(const RegionType& requested) const;
  RegionType InputRegionFor(unsigned int i, const RegionType& alignedOutputRegion) const;
  RegionType VirtualInputRegionFor(unsigned int i, const RegionType& alignedOutputRegion) const;
  void       ComputePaddedOutputGrid();
  void       SetOutputGrid(const PointType& origin, const SpacingType& spacing, const SizeType& size);
  void PullInputs(const RegionType& tile);
  PendingRun LaunchRun(const RegionType& tile);
  /** The kept run of `tile` if there is one, else its inputs pulled (if `pullInputs`) and its run launched. */
  PendingRun StartRun(const RegionType& tile, bool pullInputs);
  void FinishRun(PendingRun& run);
  RegionType OutputRegionToInputRegion(const RegionType& outputRegion, const TInputImage* input) const;
  void ImageToExtent(const TInputImage* image, const SizeType& receptiveField, PointType& extentInf,
                     PointType& extentSup) const;
  tf::TensorPtr MakeInputTensor(unsigned int i, const RegionType& alignedRegion, bool& allNodata) const;

  ModelPointer                    m_Model;
  std::vector<Source>             m_Sources;
  std::vector<std::string>        m_OutputTensors;
  std::vector<std::pair<std::string, std::shared_ptr<TF_Tensor>>> m_UserPlaceholders;
  SizeType                        m_OutputExpressionField;
  SizeType                        m_OutputGridSize;
  SizeType                        m_ProcessingTileSize{{0, 0}};
  SizeType                        m_TileMultiple{{0, 0}};
  bool                            m_ForceOutputGridSize = false;
  double                          m_OutputSpacingScale = 1.0;
  bool                            m_FullyConvolutional = false;
  bool                            m_PadBoundaries = false;
  double                          m_BackgroundValue = 0.0;

  // Resolved by GenerateOutputInformation()
  std::vector<tf::TensorSpec> m_InputSpecs;
  std::vector<tf::TensorSpec> m_OutputSpecs;
  std::vector<unsigned int>   m_OutputChannels;

  /** ComputeFirstCell()'s runs, kept for the GenerateData() that follows (each used once). */
  struct KeptRun
  {
    RegionType                 tile;
    bool                       skipped = false;
    std::vector<tf::TensorPtr> results;
  };
  bool                  m_KeepRuns = false;
  std::list<KeptRun>    m_KeptRuns;
  itk::ModifiedTimeType m_KeptRunsTime = 0;
  unsigned long         m_NumberOfNetworkRuns = 0;
  unsigned long         m_NumberOfReusedRuns = 0;
};

} // namespace otb

#ifndef OTB_MANUAL_INSTANTIATION
#include "otbTensorflowMultisourceModelFilter.hxx"
#endif

#endif
