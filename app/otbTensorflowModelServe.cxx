/*
 * Decloud: TensorflowModelServe, OTBTF-compatible, on TensorFlow's C API.
 *
 * Same keys and semantics as OTBTF's app (source<N>.il/.rfieldx/.rfieldy/.placeholder/.nodata,
 * model.dir/.userplaceholders/.fullyconv/.tagsets, output.names/.efieldx/.efieldy/.spcscale/.bv,
 * optim.disabletiling/.tilesizex/.tilesizey, out) so that OTBTF command lines and pyotb scripts run
 * unchanged. The number of source groups comes from OTB_TF_NSOURCES, as in OTBTF (pyotb sets it).
 */
#include "otbWrapperApplicationFactory.h"
#include "otbWrapperDecloudApplication.h"

#include "otbConcatenateVectorImageFilter.h"
#include "otbDecloudExceptionMessage.h"
#include "otbDecloudModelSession.h"
#include "otbTensorflowMultisourceModelFilter.h"

#include <cctype>
#include <cstdlib>
#include <memory>

namespace otb
{
namespace Wrapper
{

class TensorflowModelServe : public DecloudApplication
{
public:
  using Self = TensorflowModelServe;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(TensorflowModelServe, DecloudApplication);

private:
  using ModelFilterType = TensorflowMultisourceModelFilter<FloatVectorImageType, FloatVectorImageType>;
  using ConcatenateType = ConcatenateVectorImageFilter<FloatVectorImageType, FloatVectorImageType, FloatVectorImageType>;
  using SizeType = FloatVectorImageType::SizeType;

  /**
   * OTB_TF_NSOURCES, as OTBTF reads it (default 1). A value that is not a whole number from 1 to 1000 sets
   * `error`; the groups its leading digits ask for are declared anyway ("3abc": 3), so that the keys given are
   * known and DoExecute refuses the value in one line.
   */
  static unsigned int NumberOfSources(std::string& error)
  {
    const char* env = std::getenv("OTB_TF_NSOURCES");
    if (!env)
      return 1;
    const std::string text(env);
    size_t            digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits])))
      ++digits;
    const unsigned long n = digits == 0 ? 0 : digits > 4 ? 100000 : std::stoul(text.substr(0, digits));
    if (digits == 0 || digits != text.size() || n < 1 || n > 1000)
      error = "OTB_TF_NSOURCES='" + text + "' is not a number of sources (a whole number from 1 to 1000)";
    return static_cast<unsigned int>(std::max(1UL, std::min(n, 1000UL)));
  }

  static std::string Key(unsigned int source, const std::string& leaf)
  {
    return "source" + std::to_string(source) + "." + leaf;
  }

  void AddSourceGroup(unsigned int n)
  {
    const std::string group = "source" + std::to_string(n);
    AddParameter(ParameterType_Group, group, "Parameters for source #" + std::to_string(n));
    AddParameter(ParameterType_InputImageList, Key(n, "il"), "Input image(s), stacked along bands, of source #" + std::to_string(n));
    AddParameter(ParameterType_Int, Key(n, "rfieldx"), "Receptive field (width, in pixels of this source)");
    SetMinimumParameterIntValue(Key(n, "rfieldx"), 1);
    SetDefaultParameterInt(Key(n, "rfieldx"), 1);
    AddParameter(ParameterType_Int, Key(n, "rfieldy"), "Receptive field (height, in pixels of this source)");
    SetMinimumParameterIntValue(Key(n, "rfieldy"), 1);
    SetDefaultParameterInt(Key(n, "rfieldy"), 1);
    AddParameter(ParameterType_String, Key(n, "placeholder"), "Model input (signature key) fed by this source");
    SetParameterDescription(Key(n, "placeholder"), "Default: the model's inputs in key order, one per source");
    MandatoryOff(Key(n, "placeholder"));
    AddParameter(ParameterType_Float, Key(n, "nodata"), "Nodata value of this source");
    SetParameterDescription(Key(n, "nodata"),
                            "A tile where this source is entirely nodata is not processed: the output there is output.bv");
    MandatoryOff(Key(n, "nodata"));
  }

  void DoInit() override
  {
    SetName("TensorflowModelServe");
    SetDescription("Runs a TensorFlow SavedModel over one or several images (OTBTF-compatible, TensorFlow C API).");
    SetDocLongDescription(
      "Runs the serving signature of a TensorFlow SavedModel over N image sources, streamed tile by tile. "
      "Set the number of sources with the environment variable OTB_TF_NSOURCES (default 1). For each source: "
      "its image(s), its receptive field (the input patch size) and the model input it feeds (signature key). "
      "Outputs (signature keys, all outputs sorted by key by default) are stacked along bands. The output grid: "
      "spacing = output.spcscale x spacing of source 1; extent = intersection of the sources shrunk by their "
      "receptive fields, enlarged by the expression field (OTBTF's rules). In fully convolutional mode each "
      "source's region is fed whole; in patch-based mode one patch per output block of output.efieldx x "
      "output.efieldy pixels.");
    SetDocLimitations("Image data tensors must be numeric (no string or bool inputs); outputs must have a known "
                      "number of channels in their last dimension. From the command line the output is written "
                      "atomically: a temporary file beside it (.<name>.<pid>.tmp.<ext>), renamed over it when "
                      "complete; a run killed with SIGKILL can leave such a file behind, which can be deleted.");
    SetDocAuthors("Decloud developers");
    SetDocSeeAlso("OTBTF's TensorflowModelServe, whose parameters this application keeps");
    AddDocTag("Decloud"); // first: the group of the QGIS descriptors
    AddDocTag(Tags::Learning);

    m_SourcesError.clear();
    m_NumberOfSources = NumberOfSources(m_SourcesError);
    for (unsigned int n = 1; n <= m_NumberOfSources; ++n)
    {
      AddSourceGroup(n);
      if (n > 1 && !m_SourcesError.empty())
        MandatoryOff(Key(n, "il")); // the launcher must not stop on it: DoExecute refuses the variable itself
    }

    AddParameter(ParameterType_Group, "model", "Model");
    AddParameter(ParameterType_Directory, "model.dir", "SavedModel directory");
    AddParameter(ParameterType_StringList, "model.userplaceholders", "Extra scalar inputs: name=value ...");
    SetParameterDescription("model.userplaceholders", "e.g. is_training=false rate=0.0 (bool, int, float or (v1, v2))");
    MandatoryOff("model.userplaceholders");
    AddParameter(ParameterType_Bool, "model.fullyconv", "Fully convolutional mode");
    AddParameter(ParameterType_StringList, "model.tagsets", "Tag set of the MetaGraph to load (default: serve)");
    MandatoryOff("model.tagsets");

    AddParameter(ParameterType_Group, "output", "Output");
    AddParameter(ParameterType_Float, "output.spcscale", "Output spacing scale, relative to source 1");
    SetDefaultParameterFloat("output.spcscale", 1.0);
    AddParameter(ParameterType_StringList, "output.names", "Model outputs (signature keys), stacked along bands");
    MandatoryOff("output.names");
    AddParameter(ParameterType_Int, "output.efieldx", "Expression field (width, output pixels per patch)");
    SetMinimumParameterIntValue("output.efieldx", 1);
    SetDefaultParameterInt("output.efieldx", 1);
    AddParameter(ParameterType_Int, "output.efieldy", "Expression field (height, output pixels per patch)");
    SetMinimumParameterIntValue("output.efieldy", 1);
    SetDefaultParameterInt("output.efieldy", 1);
    AddParameter(ParameterType_Float, "output.bv", "Background value (skipped nodata tiles, uncovered pixels)");
    SetDefaultParameterFloat("output.bv", 0.0);

    AddParameter(ParameterType_Group, "optim", "Processing tiles");
    AddParameter(ParameterType_Bool, "optim.disabletiling", "Disable tiling (process each streaming chunk at once)");
    AddParameter(ParameterType_Int, "optim.tilesizex", "Tile width (rounded up to a multiple of output.efieldx)");
    SetMinimumParameterIntValue("optim.tilesizex", 1);
    SetDefaultParameterInt("optim.tilesizex", 16);
    AddParameter(ParameterType_Int, "optim.tilesizey", "Tile height (rounded up to a multiple of output.efieldy)");
    SetMinimumParameterIntValue("optim.tilesizey", 1);
    SetDefaultParameterInt("optim.tilesizey", 16);

    AddSessionThreadParameters();

    AddParameter(ParameterType_OutputImage, "out", "Output image");
    AddRAMParameter();

    SetDocExampleParameterValue("source1.il", "s2.tif");
    SetDocExampleParameterValue("source1.rfieldx", "64");
    SetDocExampleParameterValue("source1.rfieldy", "64");
    SetDocExampleParameterValue("source1.placeholder", "x");
    SetDocExampleParameterValue("model.dir", "model/");
    SetDocExampleParameterValue("model.fullyconv", "1");
    SetDocExampleParameterValue("output.efieldx", "64");
    SetDocExampleParameterValue("output.efieldy", "64");
    SetDocExampleParameterValue("out", "prediction.tif");
  }

  void DoUpdateParameters() override {}

  /** The source's images, stacked along bands when there are several. */
  FloatVectorImageType* SourceImage(unsigned int n)
  {
    FloatVectorImageListType* list = GetParameterImageList(Key(n, "il"));
    if (list->Size() == 0)
      otbAppLogFATAL("" << Key(n, "il") << ": no image given");
    FloatVectorImageType* image = list->GetNthElement(0);
    for (unsigned int k = 1; k < list->Size(); ++k)
    {
      ConcatenateType::Pointer concat = ConcatenateType::New();
      concat->SetInput1(image);
      concat->SetInput2(list->GetNthElement(k));
      m_Keep.push_back(concat.GetPointer());
      image = concat->GetOutput();
    }
    image->UpdateOutputInformation();
    return image;
  }

  void LoadModel()
  {
    const std::string dir = GetParameterString("model.dir");
    std::vector<std::string> tags = {"serve"};
    if (HasValue("model.tagsets") && !GetParameterStringList("model.tagsets").empty())
      tags = GetParameterStringList("model.tagsets");
    try
    {
      m_Model = decloud::LoadSavedModel(dir, tags,
                                        decloud::SessionOptionsOf(*this),
                                        decloud::SavedModelFiles::BinaryOrText, &m_ModelReused);
    }
    catch (const std::exception& e)
    {
      otbAppLogFATAL("model.dir: " << e.what());
    }
    const tf::Signature& sig = m_Model->GetServingSignature();
    otbAppLogINFO("Model " << dir << ", signature '" << sig.name << "'"
                           << decloud::KeptSessionNote(m_ModelReused));
    for (const auto& spec : sig.inputs)
      otbAppLogINFO("  input  " << spec.ToString());
    for (const auto& spec : sig.outputs)
      otbAppLogINFO("  output " << spec.ToString());
  }

  void DoExecute() override
  {
    if (!m_SourcesError.empty())
      otbAppLogFATAL("" << m_SourcesError);
    CheckOutputs();
    m_Keep.clear();
    LoadModel();
    const tf::Signature& sig = m_Model->GetServingSignature();

    m_Filter = ModelFilterType::New();
    m_Filter->SetModel(m_Model);

    // User placeholders
    if (HasValue("model.userplaceholders"))
      for (const auto& expression : GetParameterStringList("model.userplaceholders"))
      {
        try
        {
          auto entry = tf::ExpressionToTensor(expression);
          if (!sig.FindInput(entry.first))
            otbAppLogFATAL("model.userplaceholders: the model has no input '" << entry.first
                                                                              << "' (inputs: " << tf::Signature::Keys(sig.inputs) << ")");
          m_Filter->AddUserPlaceholder(entry.first, std::shared_ptr<TF_Tensor>(entry.second.release(), tf::TensorDeleter()));
        }
        catch (const std::runtime_error& e)
        {
          otbAppLogFATAL("model.userplaceholders: " << e.what());
        }
      }

    // Sources
    const unsigned int nSources = m_NumberOfSources;
    for (unsigned int n = 1; n <= nSources; ++n)
    {
      SizeType rf;
      rf[0] = GetParameterInt(Key(n, "rfieldx"));
      rf[1] = GetParameterInt(Key(n, "rfieldy"));
      const std::string placeholder = HasValue(Key(n, "placeholder")) ? GetParameterString(Key(n, "placeholder")) : "";
      if (!placeholder.empty() && !sig.FindInput(placeholder))
        otbAppLogFATAL("" << Key(n, "placeholder") << ": the model has no input '" << placeholder
                                             << "' (inputs: " << tf::Signature::Keys(sig.inputs) << ")");
      const bool hasNodata = HasValue(Key(n, "nodata"));
      m_Filter->PushBackInputTensorBundle(placeholder, rf, SourceImage(n), hasNodata,
                                          hasNodata ? GetParameterFloat(Key(n, "nodata")) : 0.0);
    }

    // Outputs
    std::vector<std::string> names;
    if (HasValue("output.names"))
      names = GetParameterStringList("output.names");
    for (const auto& name : names)
      if (!sig.FindOutput(name))
        otbAppLogFATAL("output.names: the model has no output '" << name << "' (outputs: "
                                                                 << tf::Signature::Keys(sig.outputs) << ")");
    m_Filter->SetOutputTensors(names);
    SizeType ef;
    ef[0] = GetParameterInt("output.efieldx");
    ef[1] = GetParameterInt("output.efieldy");
    m_Filter->SetOutputExpressionField(ef);
    m_Filter->SetOutputSpacingScale(GetParameterFloat("output.spcscale"));
    m_Filter->SetFullyConvolutional(GetParameterInt("model.fullyconv"));
    m_Filter->SetBackgroundValue(GetParameterFloat("output.bv"));
    if (GetParameterFloat("output.spcscale") <= 0)
      otbAppLogFATAL("output.spcscale: must be positive, got " << GetParameterFloat("output.spcscale"));

    ValidateSources(nSources);

    try
    {
      m_Filter->UpdateOutputInformation();
    }
    catch (const itk::ExceptionObject& e)
    {
      otbAppLogFATAL("the output grid cannot be computed: " << ExceptionMessage(e));
    }
    const auto largest = m_Filter->GetOutput()->GetLargestPossibleRegion();
    otbAppLogINFO("Output: " << largest.GetSize(0) << "x" << largest.GetSize(1) << " pixels, "
                             << m_Filter->GetOutput()->GetNumberOfComponentsPerPixel() << " bands ("
                             << (GetParameterInt("model.fullyconv") ? "fully convolutional" : "patch-based") << ")");

    SizeType tile;
    tile.Fill(0);
    if (GetParameterInt("optim.disabletiling"))
    {
      otbAppLogINFO("Tiling disabled: each streaming chunk is processed at once");
    }
    else
    {
      tile[0] = GetParameterInt("optim.tilesizex");
      tile[1] = GetParameterInt("optim.tilesizey");
      for (unsigned int dim = 0; dim < 2; ++dim)
        if (tile[dim] % ef[dim] != 0)
        {
          tile[dim] = (tile[dim] / ef[dim] + 1) * ef[dim];
          otbAppLogWARNING("Tile size aligned to the expression field: " << tile[dim] << (dim ? " (y)" : " (x)"));
        }
      otbAppLogINFO("Processing tiles of " << tile[0] << "x" << tile[1] << " pixels");
    }
    m_Filter->SetProcessingTileSize(tile);

    // Run the model on one grid cell now, so that a model/field mismatch fails before any output is written.
    const std::string probe = decloud::ProbeFirstTile(*m_Filter);
    if (!probe.empty())
      otbAppLogFATAL("model.dir: " << probe);
    SetParameterOutputImage("out", m_Filter->GetOutput());
    WriteOutputs();
    if (m_WroteOutputs)
      otbAppLogINFO("" << decloud::NetworkRunsMessage(*m_Filter));
  }

  /** User mistakes about a source, reported with the key to fix. */
  void ValidateSources(unsigned int nSources)
  {
    // Resolve placeholders (the filter does it too, but cannot name keys).
    try
    {
      m_Filter->UpdateOutputInformation();
    }
    catch (const itk::ExceptionObject&)
    {
      // Reported below with keys where we can, else by the caller.
    }
    const auto& specs = m_Filter->GetInputSpecs();
    for (unsigned int n = 1; n <= nSources && specs.size() == nSources; ++n)
    {
      const tf::TensorSpec& spec = specs[n - 1];
      const auto*           image = m_Filter->GetInput(n - 1);
      const int64_t         expected = spec.NumberOfChannels();
      const unsigned int    bands = image->GetNumberOfComponentsPerPixel();
      if (!spec.unknownRank && spec.shape.size() != 4)
        otbAppLogFATAL("" << Key(n, "placeholder") << ": model input '" << spec.key << "' has rank " << spec.shape.size()
                                             << " but image data needs [batch, height, width, bands]");
      if (expected > 0 && expected != static_cast<int64_t>(bands))
        otbAppLogFATAL("" << Key(n, "il") << ": the image has " << bands << " bands but model input '" << spec.key
                                    << "' expects " << expected);
      const SizeType minimum = m_Filter->GetMinimumReceptiveField(n - 1);
      const SizeType rf = m_Filter->GetSources()[n - 1].receptiveField;
      for (unsigned int dim = 0; dim < 2; ++dim)
        if (rf[dim] < minimum[dim])
          otbAppLogFATAL("" << Key(n, dim ? "rfieldy" : "rfieldx")
                         << ": receptive field " << rf[dim] << " is too small for output.efield" << (dim ? "y " : "x ")
                         << GetParameterInt(dim ? "output.efieldy" : "output.efieldx") << " at output.spcscale "
                         << GetParameterFloat("output.spcscale") << " (this source's spacing "
                         << image->GetSpacing()[dim] << ", source 1's " << m_Filter->GetInput(0)->GetSpacing()[dim]
                         << "): it must be at least " << minimum[dim]);
      // Fixed spatial sizes of a patch-based model must match the receptive field.
      if (!GetParameterInt("model.fullyconv") && spec.shape.size() == 4)
        for (unsigned int dim = 0; dim < 2; ++dim)
        {
          const int64_t fixed = spec.shape[2 - dim];
          if (fixed > 0 && fixed != static_cast<int64_t>(rf[dim]))
            otbAppLogFATAL("" << Key(n, dim ? "rfieldy" : "rfieldx") << ": model input '" << spec.key << "' has a fixed "
                                                                << (dim ? "height" : "width") << " of " << fixed
                                                                << " but the receptive field is " << rf[dim]);
        }
    }
  }

  std::shared_ptr<tf::SavedModel> m_Model;
  bool                            m_ModelReused = false;
  ModelFilterType::Pointer        m_Filter;
  unsigned int                    m_NumberOfSources = 1;
  std::string                     m_SourcesError;
};

} // namespace Wrapper
} // namespace otb

OTB_APPLICATION_EXPORT(otb::Wrapper::TensorflowModelServe)
