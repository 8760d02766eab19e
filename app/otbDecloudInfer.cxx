/*
 * Decloud: DecloudInfer, a cloud-free Sentinel-2 image at t from a Decloud SavedModel and its inputs by role.
 */
#include "otbWrapperApplicationFactory.h"
#include "otbWrapperDecloudApplication.h"

#include "otbDecloudCloudMaskFilter.h"
#include "otbDecloudCloudTransitionFilter.h"
#include "otbDecloudComposeFilter.h"
#include "otbDecloudDate.h"
#include "otbDecloudExceptionMessage.h"
#include "otbDecloudFirstValidImageFilter.h"
#include "otbDecloudModelCard.h"
#include "otbDecloudValidityMaskFilter.h"
#include "otbTensorflowMultisourceModelFilter.h"

#include "itkBinaryBallStructuringElement.h"
#include "itkBinaryDilateImageFilter.h"
#include "itkBinaryErodeImageFilter.h"
#include "itkShrinkImageFilter.h"
#include "otbImage.h"

#include <itksys/SystemTools.hxx>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#ifndef DECLOUD_DEFAULT_MODEL
#define DECLOUD_DEFAULT_MODEL ""
#endif

namespace otb
{
namespace Wrapper
{

namespace
{
/** The application's parameter for each role a model card may name. */
struct InputRole
{
  const char* role;
  const char* key;
  const char* description;
  bool        candidates;          // a list: candidates in order of preference, completed per pixel
  bool        ownParameter = true; // false: the parameter is declared apart (-mask, which has other uses too)
};
const InputRole Roles[] = {
  {"s2_t", "s2.t", "Sentinel-2 at t (the cloudy image)", false},
  {"s2_tm1", "s2.tm1", "Sentinel-2 at t-1 (candidates in order of preference)", true},
  {"s2_tp1", "s2.tp1", "Sentinel-2 at t+1 (candidates in order of preference)", true},
  {"s1_t", "s1.t", "Sentinel-1 at t (candidates in order of preference)", true},
  {"s1_tm1", "s1.tm1", "Sentinel-1 at t-1 (candidates in order of preference)", true},
  {"s1_tp1", "s1.tp1", "Sentinel-1 at t+1 (candidates in order of preference)", true},
  {"s2_20m_t", "s2r20.t", "Sentinel-2 20 m bands at t", false},
  {"dem", "dem", "Digital elevation model on the 20 m grid", false},
  {"cloud_t", "mask", "the cloud mask of s2.t, nonzero = cloudy", false, false},
};
/** The S2 dates whose holes a model with "holes": "model" completes itself (its output's validity). */
const char* const S2Dates[] = {"s2_t", "s2_tm1", "s2_tp1"};
const InputRole Timestamps[] = {
  {"s2_timestamp_t", "date.t", "Date of s2.t", false},
  {"s2_timestamp_tm1", "date.tm1", "Date of s2.tm1", false},
  {"s2_timestamp_tp1", "date.tp1", "Date of s2.tp1", false},
};

std::string Join(const std::vector<std::string>& items, const std::string& sep = ", ")
{
  std::ostringstream out;
  for (size_t i = 0; i < items.size(); ++i)
    out << (i ? sep : "") << items[i];
  return out.str();
}

/**
 * Output tile side (a multiple of `multiple`, at most `target`) that covers `size` pixels with the fewest
 * computed pixels, each tile computing tile + 2 x padding.
 */
unsigned long BestTile(unsigned long size, unsigned long target, unsigned long multiple, unsigned long padding)
{
  const unsigned long largest = std::max(multiple, std::min(target, (size + multiple - 1) / multiple * multiple) / multiple * multiple);
  unsigned long best = largest, bestCost = ~0UL;
  for (unsigned long tile = largest; tile >= multiple; tile -= multiple)
  {
    const unsigned long cost = (size + tile - 1) / tile * (tile + 2 * padding);
    if (cost < bestCost)
    {
      best = tile;
      bestCost = cost;
    }
  }
  return best;
}
} // namespace

class DecloudInfer : public DecloudApplication
{
public:
  using Self = DecloudInfer;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudInfer, DecloudApplication);

private:
  using ImageType = FloatVectorImageType;
  using MaskType = otb::Image<unsigned char, 2>;
  using ModelFilterType = TensorflowMultisourceModelFilter<ImageType, ImageType>;
  using FirstValidType = DecloudFirstValidImageFilter<ImageType>;
  using ValidityType = DecloudValidityMaskFilter<ImageType, MaskType>;
  using BallType = itk::BinaryBallStructuringElement<unsigned char, 2>;
  using DilateType = itk::BinaryDilateImageFilter<MaskType, MaskType, BallType>;
  using ErodeType = itk::BinaryErodeImageFilter<MaskType, MaskType, BallType>;
  using TransitionType = DecloudCloudTransitionFilter<ImageType, ImageType>;
  using CloudMaskType = DecloudCloudMaskFilter<ImageType, ImageType>;
  using ComposeType = DecloudComposeFilter<ImageType, MaskType>;
  using ShrinkType = itk::ShrinkImageFilter<MaskType, MaskType>;

  /** One model input fed by an image (after candidate completion). */
  struct Source
  {
    std::string               role;
    ModelFilterType::SizeType receptiveField; // at 10 m output scale
    ImageType*                image;
    unsigned int              scale;
    bool                      hasNodata;
    double                    nodata;
  };

  void DoInit() override
  {
    SetName("DecloudInfer");
    SetDescription("Removes the clouds of a Sentinel-2 image with a Decloud model (SavedModel and its card).");
    SetDocLongDescription(
      "Runs a Decloud network over whole scenes, streamed tile by tile. The model's card (card.json in the model "
      "folder) says which inputs it takes; give each by role: s2.t (the cloudy image at t), s2.tm1 / s2.tp1 (dates "
      "before and after), s1.* (Sentinel-1), dem, s2r20.t (20 m bands), date.* (for models that take dates). "
      "Inputs for t-1 and t+1 (and S1) may list several candidate images in order of preference: each pixel takes "
      "the first that has data there (swath edges). Inputs must share s2.t's grid (same CRS, 10 m pixels, aligned; "
      "DEM and 20 m bands at twice the pixel size); the output covers their common extent. "
      "Each tile is computed with a margin of `padding` pixels on each side that is dropped (no block artefacts); "
      "beyond the image edges the inputs are mirrored. "
      "Cloud mask (-mask, nonzero = cloudy, on s2.t's grid, one band): clear pixels of s2.t are kept exactly and "
      "only cloudy ones are replaced, with a smooth transition of `transition` pixels. Models whose card names a "
      "cloud mask input (cloud_t) also take it as an input (1 = cloudy, 0 = clear): for them -mask is mandatory. "
      "Holes (nodata in the inputs): by default the output is nodata where any input has no data (the valid area "
      "is closed by `closing` pixels, then eroded by the padding). Models whose card says \"holes\": \"model\" "
      "complete the holes of their S2 inputs themselves, from whichever date has data: their output has data "
      "wherever at least one of s2.t, s2.tm1, s2.tp1 has data at the pixel (no closing, no erosion), and nodata "
      "where the model gives nodata (no S2 date to fill from), except clear pixels of s2.t, which are kept.");
    SetDocLimitations("Inputs in Decloud's stored encodings (S2 int16 x 10000 nodata -10000, S1 uint16 log stretch "
                      "nodata 0, DEM in metres): prepare them with decloud prepare-s2 / prepare-s1 / prepare-dem. "
                      "From the command line the outputs are written atomically: temporary files beside them "
                      "(.<name>.<pid>.tmp.tif), renamed over them when complete; a run killed with SIGKILL can leave "
                      "such a file behind, which can be deleted.");
    SetDocAuthors("Decloud developers");
    SetDocSeeAlso("DecloudGapFilling, TensorflowModelServe");
    AddDocTag("Decloud"); // first: the group of the QGIS descriptors
    AddDocTag(Tags::Learning);

    AddParameter(ParameterType_Group, "s2", "Sentinel-2 images (10 m: B2 B3 B4 B8)");
    AddParameter(ParameterType_Group, "s1", "Sentinel-1 images (VV VH)");
    AddParameter(ParameterType_Group, "s2r20", "Sentinel-2 20 m bands");
    for (const InputRole& r : Roles)
    {
      if (!r.ownParameter)
        continue;
      AddParameter(r.candidates ? ParameterType_InputImageList : ParameterType_InputImage, r.key, r.description);
      MandatoryOff(r.key);
    }
    AddParameter(ParameterType_Group, "date", "Dates, for models that take them (YYYY-MM-DD[THH:MM:SS] UTC)");
    for (const InputRole& r : Timestamps)
    {
      AddParameter(ParameterType_String, r.key, r.description);
      MandatoryOff(r.key);
    }

    AddParameter(ParameterType_Directory, "model", "Model folder (SavedModel + card.json)");
    SetParameterDescription("model", "Default: the shipped model gfnet-v1 (it takes the cloud mask of s2.t and the dates)");
    MandatoryOff("model");
    if (itksys::SystemTools::FileIsDirectory(DECLOUD_DEFAULT_MODEL))
      SetParameterString("model", DECLOUD_DEFAULT_MODEL);

    AddParameter(ParameterType_InputImage, "mask", "Cloud mask of s2.t (nonzero = cloudy): keep its clear pixels");
    SetParameterDescription("mask", "One band on s2.t's grid, nonzero = cloudy. Clear pixels of s2.t are kept "
                                    "exactly, cloudy ones replaced by the model's estimate. Mandatory for models "
                                    "whose card names a cloud mask input (cloud_t): they are fed this mask as "
                                    "1.0 (cloudy) / 0.0 (clear).");
    MandatoryOff("mask");
    AddParameter(ParameterType_Int, "transition", "Width of the transition around clouds (pixels, with mask)");
    SetDefaultParameterInt("transition", 10);
    SetMinimumParameterIntValue("transition", 0);

    AddParameter(ParameterType_Int, "padding", "Margin computed and dropped around each tile (pixels)");
    SetParameterDescription("padding", "One of the paddings the model offers (its crop outputs); default 32, or the "
                                       "largest offered below 32");
    MandatoryOff("padding");
    AddParameter(ParameterType_Int, "tile", "Largest output tile side (pixels, rounded to the model's multiple)");
    SetDefaultParameterInt("tile", 512);
    SetMinimumParameterIntValue("tile", 1);
    AddParameter(ParameterType_Int, "closing", "Closing radius of the valid-input mask (fills small holes)");
    SetParameterDescription("closing", "Not used for models that complete holes themselves (card: \"holes\": "
                                       "\"model\"): their output is valid wherever an S2 date has data");
    SetDefaultParameterInt("closing", 2);
    SetMinimumParameterIntValue("closing", 0);

    AddParameter(ParameterType_Group, "optim", "TensorFlow threads");
    AddParameter(ParameterType_Int, "optim.intraop", "TensorFlow threads inside one operation (0: TensorFlow's choice)");
    SetDefaultParameterInt("optim.intraop", 0);
    SetMinimumParameterIntValue("optim.intraop", 0);
    AddParameter(ParameterType_Int, "optim.interop", "TensorFlow operations run in parallel (0: TensorFlow's choice)");
    SetDefaultParameterInt("optim.interop", 0);
    SetMinimumParameterIntValue("optim.interop", 0);

    AddParameter(ParameterType_OutputImage, "out", "Output image at t, without clouds");
    SetParameterDescription("out", "Nodata (-10000) where the inputs have no data: where any input has none (closed, "
                                   "eroded by the padding), or, for models that complete holes themselves, where no "
                                   "S2 date has data and where the model gives nodata (clear s2.t pixels are kept)");
    AddParameter(ParameterType_OutputImage, "out20m", "Output 20 m bands at t (models with a 20 m output)");
    SetParameterDescription("out20m", "Computed by a second pass of the network at 20 m; nodata as the 10 m output, "
                                      "no clear-pixel keeping");
    MandatoryOff("out20m");
    AddEncodingParameters({"out", "out20m"});
    AddRAMParameter();

    SetDocExampleParameterValue("s2.t", "s2_t.tif");
    SetDocExampleParameterValue("s2.tm1", "s2_tm1.tif");
    SetDocExampleParameterValue("s2.tp1", "s2_tp1.tif");
    SetDocExampleParameterValue("out", "decloud_t.tif");
  }

  void DoUpdateParameters() override {}

  bool Given(const InputRole& r)
  {
    if (!HasValue(r.key))
      return false;
    return !r.candidates || GetParameterImageList(r.key)->Size() > 0;
  }

  void LoadModel()
  {
    if (!HasValue("model"))
      otbAppLogFATAL("model: no model given and the default model (" << DECLOUD_DEFAULT_MODEL << ") is not installed");
    const std::string dir = GetParameterString("model");
    if (!itksys::SystemTools::FileIsDirectory(dir))
      otbAppLogFATAL("model: '" << dir << "' is not a directory");
    try
    {
      m_Card = decloud::ModelCard::Read(dir);
    }
    catch (const std::runtime_error& e)
    {
      otbAppLogFATAL("model: " << e.what());
    }
    if (!itksys::SystemTools::FileExists(dir + "/saved_model.pb"))
      otbAppLogFATAL("model: '" << dir << "' holds no saved_model.pb (is it a TensorFlow SavedModel?)");
    try
    {
      tf::SessionOptions options;
      options.intraOpThreads = GetParameterInt("optim.intraop");
      options.interOpThreads = GetParameterInt("optim.interop");
      m_Model = std::make_shared<tf::SavedModel>(dir, std::vector<std::string>{"serve"}, options);
      m_Model->GetServingSignature();
    }
    catch (const std::exception& e)
    {
      otbAppLogFATAL("model: " << e.what());
    }
    // The card must describe this SavedModel.
    const tf::Signature& sig = m_Model->GetServingSignature();
    for (const auto& in : m_Card.inputs)
    {
      const tf::TensorSpec* spec = sig.FindInput(in.role);
      if (!spec)
        otbAppLogFATAL("model: card.json is inconsistent with the SavedModel: the card names input '"
                       << in.role << "', the model's inputs are " << tf::Signature::Keys(sig.inputs));
      if (!in.timestamp && spec->NumberOfChannels() > 0 && spec->NumberOfChannels() != static_cast<int64_t>(in.bands.size()))
        otbAppLogFATAL("model: card.json is inconsistent with the SavedModel: input '" << in.role << "' has "
                       << in.bands.size() << " bands in the card, " << spec->NumberOfChannels() << " in the model");
    }
    for (const auto& spec : sig.inputs)
      if (!m_Card.FindInput(spec.key))
        otbAppLogFATAL("model: card.json is inconsistent with the SavedModel: the model's input '" << spec.key
                       << "' is not in the card");
    for (const auto& out : m_Card.outputs)
      if (!sig.FindOutput(out.key))
        otbAppLogFATAL("model: card.json is inconsistent with the SavedModel: the card names output '"
                       << out.key << "', the model's outputs are " << tf::Signature::Keys(sig.outputs));
    otbAppLogINFO("Model " << m_Card.name << " (" << m_Card.network << ") from " << dir);
  }

  unsigned int ChoosePadding()
  {
    const auto offered = m_Card.Paddings("s2_target");
    if (!m_Card.FindOutput("s2_target"))
      otbAppLogFATAL("model: the card names no output 's2_target'");
    std::vector<std::string> names;
    for (unsigned int p : offered)
      names.push_back(std::to_string(p));
    if (HasValue("padding"))
    {
      const auto p = static_cast<unsigned int>(std::max(0, GetParameterInt("padding")));
      if (std::find(offered.begin(), offered.end(), p) == offered.end())
        otbAppLogFATAL("padding: the model offers " << Join(names) << ", not " << GetParameterInt("padding"));
      return p;
    }
    unsigned int best = 0;
    for (unsigned int p : offered)
      if (p <= 32)
        best = p;
    return best;
  }

  /** The image inputs the card names, each as its (cropped) images; fails listing the missing roles. */
  void CollectInputs()
  {
    std::vector<std::string> missing;
    for (const auto& in : m_Card.inputs)
    {
      const InputRole* table = in.timestamp ? std::begin(Timestamps) : std::begin(Roles);
      const InputRole* end = in.timestamp ? std::end(Timestamps) : std::end(Roles);
      const InputRole* role = std::find_if(table, end, [&](const InputRole& r) { return in.role == r.role; });
      if (role == end)
        otbAppLogFATAL("model: the card names input role '" << in.role << "' that DecloudInfer does not know");
      if (!Given(*role))
        missing.push_back(std::string(role->key) + (in.timestamp ? ""
                                                    : role->ownParameter ? " (" + in.sensor + ": " + Join(in.bands, " ") + ")"
                                                                         : std::string(" (") + role->description + ")"));
      else
        m_Used.emplace_back(role, &in);
    }
    // Table order: s2.t (the output grid) first, timestamps last.
    auto rank = [](const InputRole* r) {
      return r >= std::begin(Roles) && r < std::end(Roles) ? r - std::begin(Roles) : 100 + (r - std::begin(Timestamps));
    };
    std::stable_sort(m_Used.begin(), m_Used.end(), [&](const auto& a, const auto& b) { return rank(a.first) < rank(b.first); });
    if (!missing.empty())
      otbAppLogFATAL("missing inputs for model " << m_Card.name << " (" << m_Card.network << "): " << Join(missing, "; "));
    for (const InputRole& r : Roles)
      if (r.ownParameter && Given(r) && !m_Card.FindInput(r.role))
        otbAppLogWARNING("" << r.key << " is ignored: model " << m_Card.name << " does not take it");
  }

  void DoExecute() override
  {
    CheckOutputs();
    m_Keep.clear();
    ConfigureGdal();
    m_Used.clear();
    LoadModel();
    CollectInputs();
    const unsigned int padding = ChoosePadding();

    // Every image (each candidate too) on one grid: the first image role's.
    std::vector<GridImage> grid;
    std::vector<std::pair<size_t, size_t>> spans; // per used image role: [first, last) in grid
    for (const auto& used : m_Used)
    {
      if (used.second->timestamp)
        continue;
      const size_t first = grid.size();
      const InputRole&  r = *used.first;
      if (r.candidates)
      {
        FloatVectorImageListType* list = GetParameterImageList(r.key);
        const auto     names = GetParameterStringList(r.key);
        for (unsigned int k = 0; k < list->Size(); ++k)
          grid.push_back({std::string(r.key) + (list->Size() > 1 ? " #" + std::to_string(k + 1) : "") + " (" + names[k] + ")",
                          list->GetNthElement(k), used.second->scale});
      }
      else
        grid.push_back({std::string(r.key) + " (" + GetParameterString(r.key) + ")", GetParameterImage(r.key), used.second->scale});
      spans.emplace_back(first, grid.size());
    }
    if (grid.empty() || grid.front().scale != 1)
      otbAppLogFATAL("model: the card names no 10 m image input to define the output grid");
    const bool withMask = HasValue("mask");
    size_t     maskIndex = grid.size(); // the mask's place in grid (cloud_t's when the model takes it)
    if (withMask)
    {
      if (!m_Card.FindInput("s2_t"))
        otbAppLogFATAL("mask: model " << m_Card.name << " does not take s2.t, whose clear pixels the mask would keep");
      size_t imageRole = 0;
      bool   fed = false;
      for (const auto& used : m_Used)
        if (!used.second->timestamp)
        {
          if (used.second->role == "cloud_t")
          {
            maskIndex = spans[imageRole].first;
            fed = true;
          }
          ++imageRole;
        }
      if (!fed)
        grid.push_back({"mask (" + GetParameterString("mask") + ")", GetParameterImage("mask"), 1});
    }
    for (const auto& g : grid)
    {
      g.image->UpdateOutputInformation();
    }
    size_t imageRole = 0;
    for (const auto& used : m_Used)
    {
      if (used.second->timestamp)
        continue;
      const auto& span = spans[imageRole++];
      for (size_t k = span.first; k < span.second; ++k)
        if (grid[k].image->GetNumberOfComponentsPerPixel() != used.second->bands.size())
          otbAppLogFATAL("" << grid[k].key << ": the image has " << grid[k].image->GetNumberOfComponentsPerPixel()
                            << " bands, model input " << used.second->role << " takes " << used.second->bands.size()
                            << " (" << Join(used.second->bands, " ") << ")");
    }
    const auto cropped = OnCommonExtent(grid);

    const auto&         reference = cropped.front()->GetLargestPossibleRegion();
    const unsigned long multiple = std::max(1u, m_Card.spatialMultiple);
    const unsigned long target = static_cast<unsigned long>(GetParameterInt("tile"));
    ModelFilterType::SizeType ef;
    double                    waste = 1.0;
    for (unsigned int dim = 0; dim < 2; ++dim)
    {
      ef[dim] = BestTile(reference.GetSize(dim), target, multiple, padding);
      waste *= static_cast<double>((reference.GetSize(dim) + ef[dim] - 1) / ef[dim] * (ef[dim] + 2 * padding)) / reference.GetSize(dim);
    }
    otbAppLogINFO("Tiles of " << ef[0] << "x" << ef[1] << " output pixels, each computed with a margin of " << padding
                              << " pixels: " << waste << " pixels computed per output pixel");

    // One model source per image role, candidates completed per pixel.
    // Models that complete holes themselves ("holes": "model"): valid where any S2 date has data, and their S2
    // inputs never skip a tile (another date may have data there); others: valid where every input has data.
    const bool holes = m_Card.modelFillsHoles;
    auto       validity = ValidityType::New();
    validity->SetRule(holes ? ValidityType::Rule::AnyInputHasData : ValidityType::Rule::AllInputsValid);
    m_Keep.push_back(validity.GetPointer());
    imageRole = 0;
    ImageType* s2t = nullptr;
    m_Sources.clear();
    for (const auto& used : m_Used)
    {
      const decloud::CardInput& in = *used.second;
      if (in.timestamp)
        continue;
      const auto& span = spans[imageRole++];
      ImageType*  image = cropped[span.first];
      if (span.second - span.first > 1)
      {
        auto firstValid = FirstValidType::New();
        firstValid->SetNodataValue(in.hasNodata ? in.nodata : S2Nodata);
        for (size_t k = span.first; k < span.second; ++k)
          firstValid->PushBackInput(cropped[k]);
        m_Keep.push_back(firstValid.GetPointer());
        image = firstValid->GetOutput();
        otbAppLogINFO("" << used.first->key << ": " << span.second - span.first << " candidates, completed per pixel in this order");
      }
      if (in.role == "s2_t")
        s2t = image;
      bool hasNodata = in.hasNodata;
      if (in.mask || in.role == "cloud_t")
      {
        // The user's mask (nonzero = cloudy) as the model's 1.0 / 0.0; no nodata, so no tile is skipped on it.
        auto cloud = CloudMaskType::New();
        cloud->SetInput(image);
        m_Keep.push_back(cloud.GetPointer());
        image = cloud->GetOutput();
        hasNodata = false;
      }
      const bool s2Date = std::find_if(std::begin(S2Dates), std::end(S2Dates),
                                       [&](const char* r) { return in.role == r; }) != std::end(S2Dates);
      if (holes && s2Date)
      {
        validity->PushBackInput(image, in.hasNodata ? in.nodata : S2Nodata);
        hasNodata = false;
      }
      else if (!holes && in.scale == 1 && hasNodata)
        validity->PushBackInput(image, in.nodata);
      ModelFilterType::SizeType rf;
      for (unsigned int dim = 0; dim < 2; ++dim)
        rf[dim] = (ef[dim] + 2 * padding) / in.scale;
      m_Sources.push_back({in.role, rf, image, in.scale, hasNodata, in.nodata});
    }
    if (holes && validity->GetNumberOfIndexedInputs() == 0)
      otbAppLogFATAL("model: card.json says \"holes\": \"model\", but the model takes none of s2.t, s2.tm1, s2.tp1");
    const tf::Signature& sig = m_Model->GetServingSignature();
    m_Dates.clear();
    for (const auto& used : m_Used)
      if (used.second->timestamp)
      {
        double seconds = 0;
        try
        {
          seconds = decloud::ParseDate(GetParameterString(used.first->key));
        }
        catch (const std::invalid_argument& e)
        {
          otbAppLogFATAL("" << used.first->key << ": " << e.what());
        }
        const tf::TensorSpec* spec = sig.FindInput(used.second->role);
        auto                  tensor = tf::AllocateTensor(spec->dtype, {1});
        tf::DispatchNumericType(spec->dtype, [&](auto zero) {
          *static_cast<decltype(zero)*>(TF_TensorData(tensor.get())) = static_cast<decltype(zero)>(seconds);
        });
        m_Dates.emplace_back(used.second->role, std::shared_ptr<TF_Tensor>(tensor.release(), TF_DeleteTensor));
      }
    m_Filter = NewModelFilter(decloud::ModelCard::CroppedOutput("s2_target", padding), 1, ef);

    // Valid where every 10 m input has data, closed, then eroded by the padding; for models that complete
    // holes themselves, valid where any S2 date has data, as it is.
    MaskType* mask = validity->GetOutput();
    const int closing = GetParameterInt("closing");
    if (holes)
    {
      otbAppLogINFO("Model " << m_Card.name << " completes the holes of its S2 inputs itself: output valid where "
                    "s2.t, s2.tm1 or s2.tp1 has data (no closing, no erosion), nodata where the model gives nodata");
    }
    else
    {
      if (closing > 0)
      {
        mask = Morphology<DilateType>(mask, closing);
        mask = Morphology<ErodeType>(mask, closing);
      }
      if (padding > 0)
        mask = Morphology<ErodeType>(mask, padding);
    }

    m_Compose = ComposeType::New();
    m_Compose->SetEstimate(m_Filter->GetOutput());
    m_Compose->SetValidity(mask);
    m_Compose->SetNodataValue(S2Nodata);
    m_Compose->SetRound(UseS2Encoding());
    m_Compose->SetEstimateHoles(holes);
    if (withMask)
    {
      auto transition = TransitionType::New();
      transition->SetInput(cropped[maskIndex]);
      transition->SetTransition(static_cast<unsigned int>(GetParameterInt("transition")));
      m_Keep.push_back(transition.GetPointer());
      m_Compose->SetOriginal(s2t, transition->GetOutput());
      otbAppLogINFO("Cloud mask given: clear pixels of s2.t are kept, cloudy ones replaced (transition "
                    << GetParameterInt("transition") << " pixels)");
    }

    try
    {
      m_Compose->UpdateOutputInformation();
    }
    catch (const itk::ExceptionObject& e)
    {
      otbAppLogFATAL("the output cannot be set up: " << ExceptionMessage(e));
    }
    ProbeFirstTile(m_Filter);
    if (HasValue("out20m"))
      Setup20mOutput(padding, ef, mask);
    UseTiledGeoTIFF();
    SetParameterOutputImage("out", m_Compose->GetOutput());
    WriteOutputs();
  }

  /** The model filter for output `output` at `scale` x 10 m, fed by the sources and dates collected. */
  ModelFilterType::Pointer NewModelFilter(const std::string& output, unsigned int scale, const ModelFilterType::SizeType& ef)
  {
    auto filter = ModelFilterType::New();
    filter->SetModel(m_Model);
    filter->SetFullyConvolutional(true);
    filter->SetPadBoundaries(true);
    filter->SetOutputTensors({output});
    filter->SetBackgroundValue(S2Nodata);
    filter->SetOutputSpacingScale(scale);
    ModelFilterType::SizeType tile;
    for (unsigned int dim = 0; dim < 2; ++dim)
      tile[dim] = ef[dim] / scale;
    filter->SetOutputExpressionField(tile);
    filter->SetProcessingTileSize(tile);
    for (const Source& source : m_Sources)
      filter->PushBackInputTensorBundle(source.role, source.receptiveField, source.image, source.hasNodata, source.nodata);
    for (const auto& date : m_Dates)
      filter->AddUserPlaceholder(date.first, date.second);
    return filter;
  }

  /** The 20 m output: a second pass of the network; nodata where the 10 m output's mask says so. */
  void Setup20mOutput(unsigned int padding, const ModelFilterType::SizeType& ef, MaskType* mask)
  {
    const std::string output = decloud::ModelCard::CroppedOutput("s2_20m_target", padding);
    if (!m_Card.FindOutput(output))
      otbAppLogFATAL("out20m: model " << m_Card.name << " has no 20 m output (" << output << ")");
    if (ef[0] % 2 || ef[1] % 2)
      otbAppLogFATAL("out20m: the tiles (" << ef[0] << "x" << ef[1] << ") must have even sides");
    m_Filter20 = NewModelFilter(output, 2, ef);
    auto shrink = ShrinkType::New();
    shrink->SetInput(mask);
    shrink->SetShrinkFactors(2);
    m_Keep.push_back(shrink.GetPointer());
    m_Compose20 = ComposeType::New();
    m_Compose20->SetEstimate(m_Filter20->GetOutput());
    m_Compose20->SetValidity(shrink->GetOutput());
    m_Compose20->SetNodataValue(S2Nodata);
    m_Compose20->SetRound(GetParameterString("encoding") == "s2");
    m_Compose20->SetEstimateHoles(m_Card.modelFillsHoles);
    try
    {
      m_Compose20->UpdateOutputInformation();
    }
    catch (const itk::ExceptionObject& e)
    {
      otbAppLogFATAL("out20m: the output cannot be set up: " << ExceptionMessage(e));
    }
    ProbeFirstTile(m_Filter20);
    otbAppLogINFO("20 m output: a second pass of the network, tiles of " << ef[0] / 2 << "x" << ef[1] / 2 << " pixels");
    SetParameterOutputImage("out20m", m_Compose20->GetOutput());
  }

  /** Binary dilation or erosion by a disk; the erosion treats the outside of the image as valid. */
  template <class TMorphology>
  MaskType* Morphology(MaskType* input, int radius)
  {
    BallType ball;
    ball.SetRadius(radius);
    ball.CreateStructuringElement();
    auto filter = TMorphology::New();
    filter->SetInput(input);
    filter->SetKernel(ball);
    filter->SetForegroundValue(1);
    filter->SetBackgroundValue(0);
    filter->SetBoundaryToForeground(std::is_same<TMorphology, ErodeType>::value);
    m_Keep.push_back(filter.GetPointer());
    return filter->GetOutput();
  }

  /** Run the network on the first tile now, so that a model/input mismatch fails before anything is written. */
  void ProbeFirstTile(ModelFilterType* filter)
  {
    try
    {
      filter->ComputeFirstCell();
    }
    catch (const itk::ExceptionObject& e)
    {
      otbAppLogFATAL("model: the model fails on the first tile: " << ExceptionMessage(e));
    }
  }

  decloud::ModelCard                                        m_Card;
  std::shared_ptr<tf::SavedModel>                           m_Model;
  std::vector<std::pair<const InputRole*, const decloud::CardInput*>> m_Used;
  std::vector<Source>                                       m_Sources;
  std::vector<std::pair<std::string, std::shared_ptr<TF_Tensor>>> m_Dates;
  ModelFilterType::Pointer                                  m_Filter;
  ComposeType::Pointer                                      m_Compose;
  ModelFilterType::Pointer                                  m_Filter20;
  ComposeType::Pointer                                      m_Compose20;
};

} // namespace Wrapper
} // namespace otb

OTB_APPLICATION_EXPORT(otb::Wrapper::DecloudInfer)
