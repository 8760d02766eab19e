/*
 * Decloud: DecloudInfer, a cloud-free Sentinel-2 image at t from a Decloud SavedModel and its inputs by role.
 */
#include "otbWrapperApplicationFactory.h"
#include "otbWrapperDecloudApplication.h"

#include "otbDecloudCardCheck.h"
#include "otbDecloudClassMaskFilter.h"
#include "otbDecloudCloudMaskFilter.h"
#include "otbDecloudCloudTransitionFilter.h"
#include "otbDecloudComposeFilter.h"
#include "otbDecloudDate.h"
#include "otbDecloudExceptionMessage.h"
#include "otbDecloudFirstValidImageFilter.h"
#include "otbDecloudHoles.h"
#include "otbDecloudHolesCompletionFilter.h"
#include "otbDecloudHolesPlanFilter.h"
#include "otbDecloudModelCard.h"
#include "otbDecloudModelSession.h"
#include "otbDecloudNodataFilter.h"
#include "otbDecloudOutputTags.h"
#include "otbDecloudTiling.h"
#include "otbTensorflowMultisourceModelFilter.h"

#include "itkShrinkImageFilter.h"
#include "otbImage.h"
#include "otbImageToVectorImageCastFilter.h"

#include <itksys/SystemTools.hxx>

#include "ogr_srs_api.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <iomanip>
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
/**
 * The application's parameter for each role a model card may name. The table is python/decloud/roles.def, read by
 * this file (the X-macros below) and by decloud.infer (ROLES, DATE_KEYS...): one table for the app, decloud infer
 * and pyotb (test/python/test_infer_roles.py checks the installed app against it).
 */
struct InputRole
{
  const char* role;
  const char* key;
  const char* description;
  bool        candidates;          // a list: candidates in order of preference, completed per pixel
  bool        ownParameter = true; // false: the parameter is declared apart (-mask, which has other uses too)
  bool        indexed = false;     // a list of dates: card role <role><K> (s2_d0, s2_d1...) is its K-th image
};
const InputRole Roles[] = {
#define DECLOUD_ROLE(role, key, list, own, indexed, description) {#role, key, description, list, own, indexed},
#define DECLOUD_TIMESTAMP(...)
#include "roles.def"
#undef DECLOUD_TIMESTAMP
#undef DECLOUD_ROLE
};
/** The S2 dates, by slot of decloud::HolesRule (t, t-1, t+1): their holes decide the output's validity. */
const char* const S2Dates[] = {"s2_t", "s2_tm1", "s2_tp1"};
/** The value a hole takes where no S2 date has data, and in the other inputs (a neutral value, as gfnet's). */
constexpr double HoleFill = 0.0;
/** The date roles (string parameters), from the same file. */
const InputRole Timestamps[] = {
#define DECLOUD_ROLE(...)
#define DECLOUD_TIMESTAMP(role, key, description) {#role, key, description, false},
#include "roles.def"
#undef DECLOUD_TIMESTAMP
#undef DECLOUD_ROLE
};

/** K when card role `role` is date K of indexed table role `r` ("s2_d3" of "s2_d": 3), else -1. */
int IndexIn(const InputRole& r, const std::string& role)
{
  const std::string prefix = r.role;
  if (!r.indexed || role.size() <= prefix.size() || role.compare(0, prefix.size(), prefix) != 0)
    return -1;
  const std::string digits = role.substr(prefix.size());
  if (digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos || (digits.size() > 1 && digits[0] == '0'))
    return -1;
  return std::stoi(digits);
}

/** Whether card role `role` is fed by table role `r`. */
bool Feeds(const InputRole& r, const std::string& role)
{
  return r.indexed ? IndexIn(r, role) >= 0 : role == r.role;
}

/** K when card role `role` is S2 date K of a synthesis (s2_d<K>), else -1. */
int SynthesisDate(const std::string& role)
{
  for (const InputRole& r : Roles)
    if (r.indexed && std::string(r.role) == "s2_d")
      return IndexIn(r, role);
  return -1;
}

std::string Join(const std::vector<std::string>& items, const std::string& sep = ", ")
{
  std::ostringstream out;
  for (size_t i = 0; i < items.size(); ++i)
    out << (i ? sep : "") << items[i];
  return out.str();
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
  using NodataType = DecloudNodataFilter<ImageType>;
  using CompletionType = DecloudHolesCompletionFilter<ImageType>;
  using PlanType = DecloudHolesPlanFilter<ImageType, MaskType>;
  using PlanToImageType = ImageToVectorImageCastFilter<MaskType, ImageType>;
  using TransitionType = DecloudCloudTransitionFilter<ImageType, ImageType>;
  using CloudMaskType = DecloudCloudMaskFilter<ImageType, ImageType>;
  using ComposeType = DecloudComposeFilter<ImageType, MaskType>;
  using ShrinkType = itk::ShrinkImageFilter<MaskType, MaskType>;
  using ClassMaskType = DecloudClassMaskFilter<ImageType>;
  using TagsType = DecloudTagsFilter<ImageType>;

  /** One model input fed by an image (after candidate completion). */
  struct Source
  {
    std::string               tensor; // the SavedModel input it feeds
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
      "before and after), s1.* (Sentinel-1), dem, s2r20.t / s2r20.tm1 / s2r20.tp1 (20 m bands), date.* (for models that take dates). "
      "Synthesis models (N dates in, one image out: the card's roles s2_d0 ... s2_d<N-1>, and s1_d0 ... for S1) take "
      "s2.dates (and s1.dates): exactly N images, date K feeding role s2_d<K>; a hole of a date is completed from the "
      "other dates in their order, and the output is nodata only where no date has data; date.t, when given, is the "
      "output's ACQUISITION_DATE. "
      "Inputs for t-1 and t+1 (and S1) may list several candidate images in order of preference: each pixel takes "
      "the first that has data there (swath edges). Inputs must share s2.t's grid (same CRS, 10 m pixels, aligned; "
      "DEM and 20 m bands at twice the pixel size); the output covers their common extent. "
      "Each tile is computed with a margin of `padding` pixels on each side that is dropped (no block artefacts); "
      "beyond the image edges the inputs are mirrored; the tiles the image ends in are computed on what is left of it, "
      "rounded up to the model's spatial multiple. "
      "Cloud mask (-mask, on s2.t's grid, one band: the cloud.tif of decloud prepare-s2, 1 = cloudy, 0 = clear; any "
      "nonzero value counts as cloudy, so binary 0 / 255 masks and THEIA CLM bit masks do too): cloudy pixels are replaced and "
      "clear pixels of s2.t kept exactly, except within `transition` pixels of a cloud (10 by default, Chebyshev "
      "distance), where they blend smoothly towards the estimate (-transition 0 keeps every clear pixel). Models whose card names a "
      "cloud mask input (cloud_t) also take it as an input (1 = cloudy, 0 = clear): for them -mask is mandatory. "
      "Holes (a pixel where a band is nodata, or NaN in a float input): the output is nodata only where none of the "
      "model's S2 dates (s2.t, s2.tm1, s2.tp1) has data at the pixel; everywhere else it has a value, with no margin "
      "lost around holes. The network never sees a nodata value: before a tile is fed, each S2 input's holes are "
      "completed per pixel, from the next candidate of that role, else from the other dates as the gap-filling does "
      "(a hole of t-1 takes t+1's value and the reverse; a hole of t takes the linear gap-filling of t-1 and t+1 at "
      "date.t when date.t, date.tm1 and date.tp1 are given, else their mean, else the one that has data; a hole of t "
      "counts as cloudy, so the output there is the network's estimate, never the hole); where no date has data, "
      "and in the holes of other inputs (S1, 20 m bands, DEM), a neutral 0. Where the network cannot give a sound "
      "value because only one of its S2 dates has data at the pixel (its other inputs are copies of that date), "
      "the output falls back to the gap-filling (t-1 or t+1, whichever has data), else to s2.t itself. Models whose "
      "card says \"holes\": \"model\" complete the holes of their S2 inputs themselves and are fed them as they "
      "are; their output is nodata where no S2 date has data (and where the model gives nodata), clear pixels of "
      "s2.t being kept. The optional provenance output (-outprov) tells, per pixel, where the value comes from, "
      "and the share of each class is logged at the end of the run. "
      "Input checks: an input whose pixel type cannot hold Decloud's encoding (uint8 for S2 reflectance x 10000, for "
      "instance) is refused, naming the prepare command; so are S2 inputs in a raw L2A encoding (uint16 digital "
      "numbers, nodata 0, with the +1000 offset of processing baseline 04.00) or in reflectance 0-1, S2 inputs whose "
      "band descriptions name other bands than the model's (B8A standing for B8 is accepted and noted in the output), "
      "and a class map given as -mask (values 2 to 11: Sen2Cor's SCL) unless -maskclasses names its cloud classes; "
      "an s2.t whose pixels are not 10 m (e.g. 20 m stacks) is run as it is and noted in the output; -tile is "
      "lowered when the tensors of a tile would not fit in -ram. "
      "Outputs carry their band names (GDAL band descriptions: the model's output bands, B2 B3 B4 B8) and metadata "
      "items ACQUISITION_DATE (date.t, else the ACQUISITION_DATE of s2.t, else a YYYYMMDD date in its file name), "
      "DECLOUD_MODEL and, when there is one, DECLOUD_NOTE.");
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
    SetParameterDescription("model", "Default: the shipped model gfnet-v5 (it takes the cloud mask of s2.t and the dates)");
    MandatoryOff("model");
    if (itksys::SystemTools::FileIsDirectory(DECLOUD_DEFAULT_MODEL))
      SetParameterString("model", DECLOUD_DEFAULT_MODEL);

    AddParameter(ParameterType_InputImage, "mask", "Cloud mask of s2.t (1 = cloudy, 0 = clear): keep its clear pixels");
    SetParameterDescription("mask", "One band on s2.t's grid: the cloud.tif of decloud prepare-s2 (1 = cloudy, 0 = "
                                    "clear; any nonzero value counts as cloudy). Clear pixels of s2.t are kept "
                                    "exactly (within -transition pixels of a cloud they blend towards the "
                                    "estimate), cloudy ones replaced by the model's estimate. Mandatory for models "
                                    "whose card names a cloud mask input (cloud_t): they are fed this mask as "
                                    "1.0 (cloudy) / 0.0 (clear). A class map (values 2 to 11, such as Sen2Cor's "
                                    "SCL) is refused unless -maskclasses says which of its classes are cloudy.");
    MandatoryOff("mask");
    AddParameter(ParameterType_StringList, "maskclasses", "Cloudy classes of a class map given as -mask");
    SetParameterDescription("maskclasses", "Integer class values of -mask that count as cloudy, the others being "
                                           "clear: with Sen2Cor's SCL, 3 8 9 10 (cloud shadows, clouds of medium "
                                           "and high probability, thin cirrus), what decloud prepare-s2 uses");
    MandatoryOff("maskclasses");
    AddParameter(ParameterType_Int, "transition", "Width of the transition around clouds (pixels, with mask)");
    SetParameterDescription("transition", "0 or more pixels: clear pixels of s2.t within this distance of a cloud "
                                          "blend smoothly towards the estimate");
    SetDefaultParameterInt("transition", 10);

    AddParameter(ParameterType_Int, "padding", "Margin computed and dropped around each tile (pixels)");
    SetParameterDescription("padding", "One of the paddings the model offers (its crop outputs; 0 or more pixels); "
                                       "default 32, or the largest offered below 32");
    MandatoryOff("padding");
    AddParameter(ParameterType_Int, "tile", "Largest output tile side (pixels, rounded to the model's multiple)");
    SetParameterDescription("tile", "1 or more pixels; lowered (and said in the log) when the input and output "
                                    "tensors of such a tile would not fit in -ram");
    SetDefaultParameterInt("tile", 512);
    AddParameter(ParameterType_Int, "closing", "Closing radius of the valid-input mask (no longer used)");
    SetParameterDescription("closing", "Kept for compatibility (0 or more): the output is valid wherever an S2 date "
                                       "has data, holes being completed before the network sees them, so no mask is "
                                       "closed or eroded any more");
    SetDefaultParameterInt("closing", 2);

    AddParameter(ParameterType_Group, "optim", "TensorFlow threads");
    AddSessionThreadParameters();

    AddParameter(ParameterType_OutputImage, "out", "Output image at t, without clouds");
    SetParameterDescription("out", "Nodata (-10000) only where no S2 date of the model has data at the pixel (and, "
                                   "for models that complete holes themselves, where the model gives nodata); "
                                   "elsewhere the network's estimate on completed inputs, the clear pixels of s2.t "
                                   "kept (with -mask), or, where only one date has data, the gap-filling or that "
                                   "date (see -outprov)");
    AddParameter(ParameterType_OutputImage, "out20m", "Output 20 m bands at t (models with a 20 m output)");
    SetParameterDescription("out20m", "Computed by a second pass of the network at 20 m; nodata as the 10 m output, "
                                      "no clear-pixel keeping");
    MandatoryOff("out20m");
    AddParameter(ParameterType_OutputImage, "outprov", "Provenance of each output pixel (uint8)");
    SetParameterDescription("outprov", "0: nodata (no S2 date has data); 1: clear pixel of s2.t kept as it is (with -mask, "
                                       "beyond the -transition zone, whose blended pixels count as 2); "
                                       "2: the network; 3: gap-filling fallback (only t-1 or t+1 has data); 4: "
                                       "single-date fallback (only s2.t has data). Classified from the inputs (for "
                                       "models that complete holes themselves: 2 where t-1 or t+1 has data, 4 where "
                                       "only s2.t has). Written as a tiled GeoTIFF, atomically like the other outputs");
    MandatoryOff("outprov");
    AddEncodingParameters({"out", "out20m", "outprov"});
    SetDefaultOutputPixelType("outprov", ImagePixelType_uint8);
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
    try
    {
      decloud::CheckModelDirectory(dir); // before the card: a missing folder is named as such
      m_Card = decloud::ModelCard::Read(dir);
    }
    catch (const std::runtime_error& e)
    {
      otbAppLogFATAL("model: " << e.what());
    }
    try
    {
      m_Model = decloud::LoadSavedModel(dir, {"serve"},
                                        decloud::SessionOptionsOf(*this),
                                        decloud::SavedModelFiles::Binary, &m_ModelReused);
    }
    catch (const std::exception& e)
    {
      otbAppLogFATAL("model: " << e.what());
    }
    // The card must describe this SavedModel.
    try
    {
      decloud::CheckCardMatchesSignature(m_Card, m_Model->GetServingSignature());
    }
    catch (const std::runtime_error& e)
    {
      otbAppLogFATAL("model: " << e.what());
    }
    otbAppLogINFO("Model " << m_Card.name << " (" << m_Card.network << ") from " << dir
                           << decloud::KeptSessionNote(m_ModelReused));
  }

  unsigned int ChoosePadding()
  {
    const auto offered = m_Card.Paddings("s2_target");
    if (offered.empty())
      otbAppLogFATAL("model: the card names no output 's2_target' (nor s2_target_crop<N>)");
    try
    {
      const bool given = HasValue("padding");
      return decloud::ChoosePadding(offered, given, given ? GetParameterInt("padding") : 0);
    }
    catch (const std::invalid_argument& e)
    {
      otbAppLogFATAL("padding: " << e.what());
    }
  }

  /** The image inputs the card names, each as its (cropped) images; fails listing the missing roles. */
  void CollectInputs()
  {
    std::vector<std::string> missing;
    for (const auto& in : m_Card.inputs)
    {
      const InputRole* table = in.timestamp ? std::begin(Timestamps) : std::begin(Roles);
      const InputRole* end = in.timestamp ? std::end(Timestamps) : std::end(Roles);
      const InputRole* role = std::find_if(table, end, [&](const InputRole& r) { return Feeds(r, in.role); });
      if (role == end)
        otbAppLogFATAL("model: the card names input role '" << in.role << "' that DecloudInfer does not know");
      if (role->indexed)
      {
        m_Used.emplace_back(role, &in);
        continue;
      }
      if (!Given(*role))
        missing.push_back(std::string(role->key) + (in.timestamp ? ""
                                                    : role->ownParameter ? " (" + in.sensor + ": " + Join(in.bands, " ") + ")"
                                                                         : std::string(" (") + role->description + ")"));
      else
        m_Used.emplace_back(role, &in);
    }
    // Table order: s2.t (the output grid) first, the dates of an indexed role in their order, timestamps last.
    auto rank = [](const std::pair<const InputRole*, const decloud::CardInput*>& u) -> long {
      const InputRole* r = u.first;
      if (r >= std::begin(Roles) && r < std::end(Roles))
        return (r - std::begin(Roles)) * 1000L + std::max(0, IndexIn(*r, u.second->role));
      return 1000000L + (r - std::begin(Timestamps));
    };
    std::stable_sort(m_Used.begin(), m_Used.end(), [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
    // An indexed role (the dates of a synthesis): its list holds exactly one image per date the card names, K = 0..N-1.
    for (const InputRole& r : Roles)
    {
      if (!r.indexed)
        continue;
      std::vector<std::string> roles;
      const decloud::CardInput* first = nullptr;
      for (const auto& used : m_Used)
        if (used.first == &r)
        {
          if (IndexIn(r, used.second->role) != static_cast<int>(roles.size()))
            otbAppLogFATAL("model: the card's " << r.role << "<K> roles must be " << r.role << "0, " << r.role << "1... in "
                           "order, without gaps: it names " << used.second->role << " after " << roles.size() << " of them");
          roles.push_back(used.second->role);
          first = first ? first : used.second;
        }
      if (roles.empty())
        continue;
      const std::string what = std::to_string(roles.size()) + " images, one per date (" + first->sensor + ": " +
                               Join(first->bands, " ") + "; roles " + roles.front() + " ... " + roles.back() + ")";
      if (!Given(r))
        missing.push_back(std::string(r.key) + " (" + what + ")");
      else if (GetParameterImageList(r.key)->Size() != roles.size())
        otbAppLogFATAL("" << r.key << ": " << GetParameterImageList(r.key)->Size() << " images given, model " << m_Card.name
                          << " (" << m_Card.network << ") takes " << what);
    }
    if (!missing.empty())
      otbAppLogFATAL("missing inputs for model " << m_Card.name << " (" << m_Card.network << "): " << Join(missing, "; "));
    for (const InputRole& r : Roles)
      if (r.ownParameter && Given(r) &&
          std::none_of(m_Card.inputs.begin(), m_Card.inputs.end(), [&](const decloud::CardInput& in) { return Feeds(r, in.role); }))
        otbAppLogWARNING("" << r.key << " is ignored: model " << m_Card.name << " does not take it");
  }

  /** Every image (each candidate too) on one grid, and where each input is in it. */
  struct Grid
  {
    std::vector<GridImage>                 images;
    std::vector<std::pair<size_t, size_t>> spans;     // per used image role: [first, last) in images
    bool                                   withMask = false; // -mask given
    size_t                                 maskIndex = 0;    // the mask's place in images (cloud_t's when the model takes it)
  };

  /** Each used image role as one image (its holes as nodata, its candidates completed), and the S2 dates among them. */
  struct RoleSet
  {
    std::vector<ImageType*>   images; // per used image role
    std::array<ImageType*, 3> dates{{nullptr, nullptr, nullptr}}; // the slots of decloud::HolesRule
    std::vector<ImageType*>   synthesis; // the S2 dates of a synthesis model (s2_d0...), in order
    double                    s2Nodata = S2Nodata;
    ImageType*                s2t = nullptr;
    size_t                    s2tGrid = 0; // s2.t's place in the grid
    int                       dateCount = 0; // of dates
    ImageType*                anyDate = nullptr; // a synthesis's first valid date, for its plan
  };

  /** The model and its inputs checked, the pipeline built stage by stage, the outputs written. */
  void DoExecute() override
  {
    CheckOutputs();
    CheckSizes();
    m_Keep.clear();
    ConfigureGdal();
    m_Used.clear();
    m_Note.clear();
    m_S2tFile.clear();
    m_S2tFacts = decloud::RasterFacts();
    LoadModel();
    CollectInputs();
    const unsigned int padding = ChoosePadding();
    const Grid         grid = AssembleGrid();
    SetOutputTags(grid);
    const auto                      cropped = OnCommonExtent(grid.images);
    const ModelFilterType::SizeType ef = TileSize(cropped.front(), padding);
    const RoleSet                   roles = RoleImages(grid, cropped);
    ImageType*                      weight = SetupPlan(grid, cropped, roles);
    const double                    weightOfT = WeightOfT();
    const auto                      completed = ModelSources(roles, weightOfT, ef, padding);
    DateTensors();
    m_Filter = NewModelFilter(decloud::ModelCard::CroppedOutput("s2_target", padding), 1, ef);
    LogHoles(roles);
    SetupCompose(cropped, roles, completed, weightOfT, weight, grid.withMask);
    SetupOutputs(padding, ef);
    m_Compose->ResetCounts();
    WriteOutputs();
    if (m_WroteOutputs)
    {
      LogProvenance(m_Compose->GetCounts());
      otbAppLogINFO("" << decloud::NetworkRunsMessage(*m_Filter));
    }
  }

  /**
   * Every image (each candidate too) on one grid, the first image role's, with the mask's place; checks the bands,
   * pixel type and S2 encoding of each.
   */
  Grid AssembleGrid()
  {
    Grid                                    result;
    std::vector<GridImage>&                 grid = result.images;
    std::vector<std::pair<size_t, size_t>>& spans = result.spans;
    for (const auto& used : m_Used)
    {
      if (used.second->timestamp)
        continue;
      const size_t first = grid.size();
      const InputRole&  r = *used.first;
      if (r.indexed)
      {
        const int k = IndexIn(r, used.second->role);
        grid.push_back({std::string(r.key) + " #" + std::to_string(k + 1) + " (" + GetParameterStringList(r.key)[k] + ")",
                        GetParameterImageList(r.key)->GetNthElement(k), used.second->scale});
      }
      else if (r.candidates)
      {
        FloatVectorImageListType* list = GetParameterImageList(r.key);
        const auto     names = GetParameterStringList(r.key);
        for (unsigned int k = 0; k < list->Size(); ++k)
          grid.push_back({std::string(r.key) + (list->Size() > 1 ? " #" + std::to_string(k + 1) : "") + " (" + names[k] + ")",
                          list->GetNthElement(k), used.second->scale});
      }
      else
        grid.push_back({std::string(r.key) + " (" + GetParameterString(r.key) + ")",
                        std::string(r.key) == "mask" ? MaskImage() : GetParameterImage(r.key), used.second->scale});
      spans.emplace_back(first, grid.size());
    }
    if (grid.empty() || grid.front().scale != 1)
      otbAppLogFATAL("model: the card names no 10 m image input to define the output grid");
    result.withMask = HasValue("mask");
    result.maskIndex = grid.size(); // the mask's place in grid (cloud_t's when the model takes it)
    if (result.withMask)
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
            result.maskIndex = spans[imageRole].first;
            fed = true;
          }
          ++imageRole;
        }
      if (!fed)
        grid.push_back({"mask (" + GetParameterString("mask") + ")", MaskImage(), 1});
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
      {
        if (grid[k].image->GetNumberOfComponentsPerPixel() != used.second->bands.size())
          otbAppLogFATAL("" << grid[k].key << ": the image has " << grid[k].image->GetNumberOfComponentsPerPixel()
                            << " bands, model input " << used.second->role << " takes " << used.second->bands.size()
                            << " (" << Join(used.second->bands, " ") << ")");
        if (!used.second->mask && used.second->role != "cloud_t")
        {
          CheckPixelType(grid[k], *used.second);
          CheckPreparedS2(grid[k], *used.second);
        }
      }
    }
    return result;
  }

  /** The tags of every output (date, model, note), after noting the pixel spacing of the first image role. */
  void SetOutputTags(const Grid& grid)
  {
    NoteSpacing(grid.images[grid.spans.front().first]);
    m_Tags = decloud::OutputTags();
    const std::string date = OutputDate();
    if (!date.empty())
      m_Tags.Set(decloud::DateItem, date);
    m_Tags.Set("DECLOUD_MODEL", m_Card.name);
    if (!m_Note.empty())
    {
      m_Tags.Set(decloud::NoteItem, m_Note);
      otbAppLogINFO("Note (also in the output's " << decloud::NoteItem << "): " << m_Note);
    }
  }

  /** The tile size in output pixels (within -tile and -ram, a multiple of the model's), said in the log. */
  ModelFilterType::SizeType TileSize(ImageType* first, unsigned int padding)
  {
    const auto&         reference = first->GetLargestPossibleRegion();
    const unsigned long multiple = std::max(1u, m_Card.spatialMultiple);
    const unsigned long target = TileInRam(static_cast<unsigned long>(GetParameterInt("tile")), multiple, padding);
    const decloud::TilePlan   plan = decloud::PlanTiles({{reference.GetSize(0), reference.GetSize(1)}}, target, multiple, padding);
    ModelFilterType::SizeType ef;
    ef[0] = plan.tile[0];
    ef[1] = plan.tile[1];
    otbAppLogINFO("Tiles of " << ef[0] << "x" << ef[1] << " output pixels, each computed with a margin of " << padding
                              << " pixels: " << plan.waste << " pixels computed per output pixel (the last column's "
                              << plan.last[0] << " wide, the last row's " << plan.last[1] << " high: what is left of the image)");
    return ef;
  }

  /**
   * Each image role as one image, its holes as nodata: NaN and partial holes made whole holes, candidates completed
   * per pixel in order. The S2 dates (slots of decloud::HolesRule) decide the output's validity.
   */
  RoleSet RoleImages(const Grid& grid, const std::vector<ImageType*>& cropped)
  {
    RoleSet roles;
    size_t  imageRole = 0;
    for (const auto& used : m_Used)
    {
      const decloud::CardInput& in = *used.second;
      if (in.timestamp)
        continue;
      const auto& span = grid.spans[imageRole++];
      const bool  isMask = in.mask || in.role == "cloud_t";
      std::vector<ImageType*> candidates;
      for (size_t k = span.first; k < span.second; ++k)
        candidates.push_back(isMask ? cropped[k] : Sanitized(cropped[k], in.hasNodata, in.nodata, in.hasNodata ? in.nodata : HoleFill));
      ImageType* image = candidates.front();
      if (candidates.size() > 1)
      {
        auto firstValid = FirstValidType::New();
        firstValid->SetNodataValue(in.hasNodata ? in.nodata : S2Nodata);
        for (ImageType* c : candidates)
          firstValid->PushBackInput(c);
        m_Keep.push_back(firstValid.GetPointer());
        image = firstValid->GetOutput();
        otbAppLogINFO("" << used.first->key << ": " << candidates.size() << " candidates, completed per pixel in this order");
      }
      const int slot = S2Slot(in.role);
      if (slot >= 0)
      {
        roles.dates[slot] = image;
        roles.s2Nodata = in.hasNodata ? in.nodata : S2Nodata;
      }
      if (SynthesisDate(in.role) >= 0)
      {
        roles.synthesis.push_back(image);
        roles.s2Nodata = in.hasNodata ? in.nodata : S2Nodata;
      }
      if (in.role == "s2_t")
      {
        roles.s2t = image;
        roles.s2tGrid = span.first;
      }
      roles.images.push_back(image);
    }
    roles.dateCount = static_cast<int>(std::count_if(roles.dates.begin(), roles.dates.end(), [](ImageType* d) { return d; }));
    // A synthesis's output is valid where one of its dates has data: its plan judges from their first valid pixel.
    if (!roles.synthesis.empty())
    {
      if (roles.dateCount > 0)
        otbAppLogFATAL("model: the card names both the dates of a synthesis (s2_d0...) and s2.t, s2.tm1 or s2.tp1");
      auto any = FirstValidType::New();
      any->SetNodataValue(roles.s2Nodata);
      for (ImageType* d : roles.synthesis)
        any->PushBackInput(d);
      m_Keep.push_back(any.GetPointer());
      roles.anyDate = any->GetOutput();
    }
    if (m_Card.modelFillsHoles && roles.dateCount == 0 && !roles.anyDate)
      otbAppLogFATAL("model: card.json says \"holes\": \"model\", but the model takes none of s2.t, s2.tm1, s2.tp1");
    return roles;
  }

  /**
   * m_Plan: where each output pixel comes from, from the inputs alone (the output's validity and its provenance).
   * Returns the cloud weight of t with -mask (1 on clouds, a smooth transition, 0 on clear pixels, kept), else nullptr.
   */
  ImageType* SetupPlan(const Grid& grid, const std::vector<ImageType*>& cropped, const RoleSet& roles)
  {
    ImageType* weight = nullptr;
    if (grid.withMask)
    {
      auto transition = TransitionType::New();
      transition->SetInput(cropped[grid.maskIndex]);
      transition->SetTransition(static_cast<unsigned int>(GetParameterInt("transition")));
      m_Keep.push_back(transition.GetPointer());
      weight = transition->GetOutput();
    }
    m_Plan = PlanType::New();
    for (unsigned int k = 0; k < roles.dates.size(); ++k)
      if (roles.dates[k])
        m_Plan->SetDate(static_cast<decloud::HolesRule::Slot>(k), roles.dates[k]);
    if (roles.anyDate)
      m_Plan->SetDate(decloud::HolesRule::Tm1, roles.anyDate); // one date: the network where it has data, else nodata
    if (weight && roles.s2t)
      m_Plan->SetCloudWeight(weight);
    m_Plan->SetNodataValue(roles.s2Nodata);
    m_Plan->SetModelFillsHoles(m_Card.modelFillsHoles);
    return weight;
  }

  /**
   * m_Sources: the model's sources. Models that complete holes themselves are fed their S2 dates as they are (nodata
   * included) and never skip a tile on them; the others are fed completed S2 dates, which skip a tile only where no
   * date has data in all of it (the fill value everywhere), and their other inputs with holes at 0. Returns the
   * completed S2 dates, per slot.
   */
  std::array<ImageType*, 3> ModelSources(const RoleSet& roles, double weightOfT, const ModelFilterType::SizeType& ef, unsigned int padding)
  {
    const bool                holes = m_Card.modelFillsHoles;
    std::array<ImageType*, 3> completed{{nullptr, nullptr, nullptr}};
    size_t                    imageRole = 0;
    m_Sources.clear();
    for (const auto& used : m_Used)
    {
      const decloud::CardInput& in = *used.second;
      if (in.timestamp)
        continue;
      ImageType* image = roles.images[imageRole++];
      bool       hasNodata = false;
      double     nodata = in.nodata;
      const int  slot = S2Slot(in.role);
      if (in.mask || in.role == "cloud_t")
      {
        // The user's mask (nonzero = cloudy) as the model's 1.0 / 0.0; no nodata, so no tile is skipped on it.
        // For models that do not complete holes, the holes of t count as cloudy (they are estimated).
        auto cloud = CloudMaskType::New();
        cloud->SetInput(image);
        if (!holes && roles.s2t)
          cloud->SetImage(roles.s2t, roles.s2Nodata);
        m_Keep.push_back(cloud.GetPointer());
        image = cloud->GetOutput();
      }
      else if (!holes && slot >= 0)
      {
        auto completion = CompletionType::New();
        for (unsigned int k = 0; k < roles.dates.size(); ++k)
          if (roles.dates[k])
            completion->SetDate(static_cast<decloud::HolesRule::Slot>(k), roles.dates[k]);
        completion->SetTarget(static_cast<decloud::HolesRule::Slot>(slot));
        completion->SetWeight(weightOfT);
        completion->SetFillValue(HoleFill);
        completion->SetNodataValue(in.hasNodata ? in.nodata : S2Nodata);
        m_Keep.push_back(completion.GetPointer());
        image = completion->GetOutput();
        completed[slot] = image;
        hasNodata = true;
        nodata = HoleFill;
      }
      else if (!holes && SynthesisDate(in.role) >= 0)
      {
        // A date of a synthesis: its holes from the other dates, in their order; 0 where no date has data.
        const double d = in.hasNodata ? in.nodata : S2Nodata;
        auto         first = FirstValidType::New();
        first->SetNodataValue(d);
        first->PushBackInput(image);
        for (ImageType* other : roles.synthesis)
          if (other != image)
            first->PushBackInput(other);
        m_Keep.push_back(first.GetPointer());
        image = Sanitized(first->GetOutput(), true, d, HoleFill);
        hasNodata = true;
        nodata = HoleFill;
      }
      else if (!holes && in.hasNodata && in.nodata != HoleFill)
        image = Sanitized(image, true, in.nodata, HoleFill); // S1, 20 m bands: holes at 0
      ModelFilterType::SizeType rf;
      for (unsigned int dim = 0; dim < 2; ++dim)
        rf[dim] = (ef[dim] + 2 * padding) / in.scale;
      m_Sources.push_back({in.tensor, rf, image, in.scale, hasNodata, nodata});
    }
    return completed;
  }

  /** m_Dates: each date the model takes, as its tensor of shape [1] (seconds, in the type of its input). */
  void DateTensors()
  {
    const tf::Signature& sig = m_Model->GetServingSignature();
    m_Dates.clear();
    for (const auto& used : m_Used)
      if (used.second->timestamp)
      {
        const double          seconds = DateParameter(used.first->key);
        const tf::TensorSpec* spec = sig.FindInput(used.second->tensor);
        m_Dates.emplace_back(used.second->tensor,
                             std::shared_ptr<TF_Tensor>(tf::ScalarTensor(spec->dtype, seconds).release(), tf::TensorDeleter()));
      }
  }

  /** Says in the log how the holes of the S2 inputs are handled and where the output is valid. */
  void LogHoles(const RoleSet& roles)
  {
    if (m_Card.modelFillsHoles)
    {
      otbAppLogINFO("Model " << m_Card.name << " completes the holes of its S2 inputs itself: output valid where "
                    "s2.t, s2.tm1 or s2.tp1 has data (no closing, no erosion), nodata where the model gives nodata");
    }
    else if (!roles.synthesis.empty())
    {
      otbAppLogINFO("Synthesis of " << roles.synthesis.size() << " dates: the holes of each date are completed from the "
                    "other dates in their order before the network sees them; output valid wherever a date has data");
    }
    else if (roles.dateCount > 0)
    {
      otbAppLogINFO("Holes of the S2 inputs are completed before the network sees them (t-1 and t+1 from each other, t "
                    << (HasDates() ? "from the gap-filling at date.t" : "from the mean of t-1 and t+1 (no dates given)")
                    << "); output valid wherever an S2 date has data; where only one date has data, the gap-filling, "
                       "else that date");
    }
  }

  /**
   * m_Compose: the network's estimate where the plan says so, else the fallback (from the completed dates) or the
   * original s2.t (with -mask, by `weight`).
   */
  void SetupCompose(const std::vector<ImageType*>& cropped, const RoleSet& roles, const std::array<ImageType*, 3>& completed,
                    double weightOfT, ImageType* weight, bool withMask)
  {
    const bool holes = m_Card.modelFillsHoles;
    m_Compose = ComposeType::New();
    m_Compose->SetEstimate(m_Filter->GetOutput());
    m_Compose->SetPlan(m_Plan->GetOutput());
    m_Compose->SetNodataValue(S2Nodata);
    m_Compose->SetRound(UseS2Encoding());
    m_Compose->SetEstimateHoles(holes);
    // The images that the compose filter reads are its own (not the model's sources): the model filter pulls its
    // sources tile by tile, which leaves their buffers on its last tile.
    if (!holes)
      for (unsigned int k = 0; k < completed.size(); ++k)
        if (completed[k])
        {
          // Where fewer than two dates have data, every completed date holds the one that has: the fallback.
          auto fallback = CompletionType::New();
          for (unsigned int j = 0; j < roles.dates.size(); ++j)
            if (roles.dates[j])
              fallback->SetDate(static_cast<decloud::HolesRule::Slot>(j), roles.dates[j]);
          fallback->SetTarget(static_cast<decloud::HolesRule::Slot>(k));
          fallback->SetWeight(weightOfT);
          fallback->SetFillValue(HoleFill);
          fallback->SetNodataValue(roles.s2Nodata);
          m_Keep.push_back(fallback.GetPointer());
          m_Compose->SetFallback(fallback->GetOutput());
          break;
        }
    if (withMask)
    {
      m_Compose->SetOriginal(Sanitized(cropped[roles.s2tGrid], true, roles.s2Nodata, roles.s2Nodata), weight);
      otbAppLogINFO("Cloud mask given: clear pixels of s2.t are kept, cloudy ones replaced (transition "
                    << GetParameterInt("transition") << " pixels)");
    }
  }

  /** The outputs set up (out, out20m, outprov), after running the network on the first tile. */
  void SetupOutputs(unsigned int padding, const ModelFilterType::SizeType& ef)
  {
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
      Setup20mOutput(padding, ef, m_Plan->GetOutput());
    if (HasValue("outprov"))
    {
      auto provenance = PlanToImageType::New();
      provenance->SetInput(m_Plan->GetOutput());
      m_Keep.push_back(provenance.GetPointer());
      decloud::OutputTags tags = m_Tags;
      tags.bandNames = {"provenance"};
      tags.Set("DECLOUD_PROVENANCE_CLASSES", "0 nodata, 1 t kept, 2 network, 3 gap-filling fallback, 4 single-date fallback");
      SetParameterOutputImage("outprov", Tagged(provenance->GetOutput(), tags));
    }
    UseTiledGeoTIFF();
    SetParameterOutputImage("out", Tagged(m_Compose->GetOutput(), OutputTagsOf(decloud::ModelCard::CroppedOutput("s2_target", padding))));
  }

  /** Zero or negative sizes are mistakes, named by their key (OTB would silently clamp them to a minimum). */
  void CheckSizes()
  {
    if (GetParameterInt("tile") < 1)
      otbAppLogFATAL("tile: " << GetParameterInt("tile") << " is not a tile size: give 1 or more pixels (default 512)");
    for (const char* key : {"padding", "closing", "transition"})
      if (HasValue(key) && GetParameterInt(key) < 0)
        otbAppLogFATAL("" << key << ": " << GetParameterInt(key) << " is negative: give 0 or more pixels");
  }

  /**
   * The largest tile side (a multiple of `multiple`, at most `requested`) whose input and output tensors fit in
   * -ram (decloud::TileInRam); says so when it is smaller than asked. One multiple at least.
   */
  unsigned long TileInRam(unsigned long requested, unsigned long multiple, unsigned int padding)
  {
    std::vector<decloud::TileTensor> tensors;
    for (const auto& used : m_Used)
      if (!used.second->timestamp)
        tensors.push_back({used.second->scale, used.second->bands.size(), true});
    for (const char* key : {"s2_target", "s2_20m_target"})
      if (const auto* out = m_Card.FindOutput(decloud::ModelCard::CroppedOutput(key, padding)))
        if (std::string(key) == "s2_target" || HasValue("out20m"))
          tensors.push_back({out->scale, out->bands.size(), false});
    const decloud::TileFit fit = decloud::TileInRam(requested, multiple, padding, tensors, std::max(1, GetParameterInt("ram")) * 1024.0 * 1024.0);
    if (fit.lowered)
      otbAppLogINFO("tile: lowered from " << requested << " to " << fit.tile << " pixels: the input and output tensors of "
                    "a larger tile would not fit in -ram " << GetParameterInt("ram") << " MB ("
                    << static_cast<long>(std::ceil(decloud::TileBytes(tensors, fit.tile, padding) / 1048576.0)) << " MB for this one)");
    return fit.tile;
  }

  /**
   * Refuses an input whose pixel type cannot hold Decloud's stored encoding of its sensor (8-bit types cannot hold
   * S2 reflectance x 10000 nor its nodata -10000, S1's 16-bit log stretch, elevations in metres).
   */
  void CheckPixelType(const GridImage& input, const decloud::CardInput& in)
  {
    const std::string type = InputPixelType(input.image);
    if (type != "uint8" && type != "int8")
      return;
    std::string expected = "int16 expected (reflectance x 10000, nodata -10000; int32, uint16 or float32 also do)";
    std::string prepare = "prepare-s2";
    if (in.sensor == "S1")
    {
      expected = "uint16 expected (Decloud's log stretch of sigma0, nodata 0)";
      prepare = "prepare-s1";
    }
    else if (in.role == "dem")
    {
      expected = "int16 or float32 expected (metres)";
      prepare = "prepare-dem";
    }
    otbAppLogFATAL("" << input.key << ": the image is " << type << ", which cannot hold the encoding of model input "
                      << in.role << ": " << expected << "; prepare it with decloud " << prepare);
  }

  /**
   * The -mask image, checked: a class map (values 2 to 11, such as Sen2Cor's SCL, where every class but 0 would
   * count as cloudy) is refused unless -maskclasses names its cloudy classes; with -maskclasses, the map as 1
   * (one of those classes) / 0.
   */
  ImageType* MaskImage()
  {
    ImageType*        mask = GetParameterImage("mask");
    const std::string name = "mask (" + GetParameterString("mask") + ")";
    if (HasValue("maskclasses"))
    {
      std::vector<int> classes;
      for (const auto& text : GetParameterStringList("maskclasses"))
      {
        std::size_t used = 0;
        int         value = 0;
        try
        {
          value = std::stoi(text, &used);
        }
        catch (const std::exception&)
        {
          used = 0;
        }
        if (used == 0 || used != text.size())
          otbAppLogFATAL("maskclasses: '" << text << "' is not a class value: give integers, e.g. 3 8 9 10 for the SCL");
        classes.push_back(value);
      }
      auto filter = ClassMaskType::New();
      filter->SetInput(mask);
      filter->SetClasses(classes);
      m_Keep.push_back(filter.GetPointer());
      otbAppLogINFO("mask: a class map: classes " << Join(GetParameterStringList("maskclasses"), " ")
                                                  << " count as cloudy, the others as clear");
      return filter->GetOutput();
    }
    const std::string file = decloud::InputFileName(mask);
    if (file.empty())
      return mask;
    std::pair<double, double> range;
    try
    {
      range = decloud::ApproximateRange(file);
    }
    catch (const std::runtime_error& e)
    {
      otbAppLogFATAL("" << name << ": " << e.what());
    }
    if (range.second >= 2 && range.second <= 11 && range.second == std::floor(range.second))
      otbAppLogFATAL("" << name << ": values up to " << range.second << ": a class map such as Sen2Cor's SCL, not a cloud "
                        "mask (1 = cloudy, 0 = clear), where every class but 0 would count as cloudy; give "
                        "-maskclasses with its cloudy classes (SCL: 3 8 9 10) or the cloud.tif of decloud prepare-s2");
    return mask;
  }

  /**
   * Refuses an S2 input that is not in Decloud's prepared encoding (int16 reflectance x 10000, nodata -10000): a raw
   * L2A encoding (uint16 digital numbers, nodata 0, +1000 offset from processing baseline 04.00), a reflectance in
   * 0-1, or bands described as others than the model's (B8A for B8 is accepted, with a note). Remembers s2.t's file.
   */
  void CheckPreparedS2(const GridImage& input, const decloud::CardInput& in)
  {
    if (in.sensor != "S2" || in.timestamp || in.mask)
      return;
    const std::string file = decloud::InputFileName(input.image);
    const auto        facts = decloud::RasterFacts::Of(file);
    const std::string type = InputPixelType(input.image);
    const std::string prepare = "prepare it with decloud prepare-s2 PRODUCT_OR_STACK --out-dir FOLDER and give the "
                                "s2_10m.tif it writes (int16 reflectance x 10000, nodata -10000)";
    std::string raw;
    if (type == "uint16")
      raw = "the image is uint16";
    else if (facts.readable && facts.hasNodata && facts.nodata == 0)
      raw = "its nodata value is 0";
    if (!raw.empty())
      otbAppLogFATAL("" << input.key << ": " << raw << ": a raw Sentinel-2 L2A encoding (digital numbers, nodata 0, "
                        "+1000 offset from processing baseline 04.00 on), not the prepared reflectance that model input "
                        << in.role << " takes; " << prepare);
    if ((type == "float32" || type == "float64") && facts.readable)
    {
      std::pair<double, double> range{0, 0};
      try
      {
        range = decloud::ApproximateRange(file);
      }
      catch (const std::runtime_error&)
      {
        range = {0, 1e9}; // unreadable here: the reader will say so
      }
      if (range.second > 0 && range.second <= 2)
        otbAppLogFATAL("" << input.key << ": values up to " << range.second << ": a reflectance in 0-1, not the "
                          "reflectance x 10000 that model input " << in.role << " takes; " << prepare);
    }
    std::string note;
    try
    {
      decloud::S2OutputBands(in.bands, facts.descriptions, note);
    }
    catch (const std::invalid_argument& e)
    {
      otbAppLogFATAL("" << input.key << ": " << e.what());
    }
    if (in.role == "s2_t")
    {
      m_S2tFile = file;
      m_S2tFacts = facts;
      if (!note.empty())
        m_Note = note;
    }
  }

  /** Notes an s2.t whose pixels are not 10 m (in a metric CRS): the model runs on the pixels as they are (the
   * shipped gfnet is trained and measured on 20 m sets too, GreenEarthNet's); the output says so. */
  void NoteSpacing(const GridImage& s2t)
  {
    const std::string wkt = s2t.image->GetProjectionRef();
    if (wkt.empty())
      return;
    OGRSpatialReferenceH srs = OSRNewSpatialReference(nullptr);
    char*                text = const_cast<char*>(wkt.c_str());
    double               metres = 0;
    if (OSRImportFromWkt(srs, &text) == OGRERR_NONE && OSRIsProjected(srs))
      metres = OSRGetLinearUnits(srs, nullptr);
    OSRDestroySpatialReference(srs);
    if (metres <= 0)
      return;
    const auto   spacing = s2t.image->GetSignedSpacing();
    const double x = std::abs(spacing[0]) * metres, y = std::abs(spacing[1]) * metres;
    if (std::abs(x - 10) > 0.01 || std::abs(y - 10) > 0.01)
    {
      std::ostringstream note;
      note << "pixels of " << x << " x " << y << " m (the S2 bands' native grid is 10 m): the model ran on them as "
           << "they are; check its card for the resolutions it was trained and scored on";
      m_Note = m_Note.empty() ? note.str() : m_Note + "; " + note.str();
      otbAppLogWARNING("" << s2t.key << ": " << note.str());
    }
  }

  /** The date of the outputs: date.t, else the ACQUISITION_DATE of s2.t's file, else a date in its name. */
  std::string OutputDate()
  {
    if (HasValue("date.t"))
      return GetParameterString("date.t");
    if (!m_S2tFacts.date.empty())
      return m_S2tFacts.date;
    return decloud::DateInPath(m_S2tFile);
  }

  /** The tags of output `key` of the model: its bands (B8A for B8 when s2.t's NIR is B8A), date, model, note. */
  decloud::OutputTags OutputTagsOf(const std::string& key)
  {
    decloud::OutputTags tags = m_Tags;
    if (const auto* out = m_Card.FindOutput(key))
    {
      std::string note;
      try
      {
        tags.bandNames = decloud::S2OutputBands(out->bands, m_S2tFacts.descriptions, note);
      }
      catch (const std::invalid_argument&)
      {
        tags.bandNames = out->bands; // other bands than s2.t's (a 20 m output)
      }
    }
    return tags;
  }

  /** `image` with `tags` in its metadata (written with it). */
  ImageType* Tagged(ImageType* image, const decloud::OutputTags& tags)
  {
    auto filter = TagsType::New();
    filter->SetInput(image);
    filter->SetTags(tags);
    m_Keep.push_back(filter.GetPointer());
    return filter->GetOutput();
  }

  /** Slot of an S2 date role in decloud::HolesRule (t, t-1, t+1), -1 for other roles. */
  static int S2Slot(const std::string& role)
  {
    for (int k = 0; k < 3; ++k)
      if (role == S2Dates[k])
        return k;
    return -1;
  }

  /** `image` with its holes (a NaN band; a nodata band when it has a nodata value) as `replacement` in every band. */
  ImageType* Sanitized(ImageType* image, bool hasNodata, double nodata, double replacement)
  {
    auto filter = NodataType::New();
    filter->SetInput(image);
    if (hasNodata)
      filter->SetNodataValue(nodata);
    filter->SetReplacement(replacement);
    m_Keep.push_back(filter.GetPointer());
    return filter->GetOutput();
  }

  bool HasDates() { return HasValue("date.t") && HasValue("date.tm1") && HasValue("date.tp1"); }

  double DateParameter(const std::string& key)
  {
    try
    {
      return decloud::ParseDate(GetParameterString(key));
    }
    catch (const std::invalid_argument& e)
    {
      otbAppLogFATAL("" << key << ": " << e.what());
    }
    return 0; // not reached: the line above throws
  }

  /** Weight of t+1 in the gap-filling that completes a hole of t: by the dates when given, else 0.5. */
  double WeightOfT()
  {
    if (!HasDates())
      return 0.5;
    return decloud::HolesRule::WeightOfDates(DateParameter("date.tm1"), DateParameter("date.t"), DateParameter("date.tp1"));
  }

  /** The share of each provenance class among the output pixels. */
  void LogProvenance(const ComposeType::Counts& counts)
  {
    double total = 0;
    for (auto c : counts)
      total += static_cast<double>(c);
    if (total <= 0)
      return;
    const char* names[] = {"nodata", "t kept", "network", "gap-filling fallback", "single-date fallback"};
    std::ostringstream line;
    line << std::fixed << std::setprecision(2);
    for (unsigned int k = 0; k < counts.size(); ++k)
      line << (k ? ", " : "") << names[k] << " " << 100.0 * counts[k] / total << " %";
    otbAppLogINFO("Output pixels by provenance (" << static_cast<long long>(total) << " pixels): " << line.str());
  }

  /** The model filter for output `output` at `scale` x 10 m, fed by the sources and dates collected. */
  ModelFilterType::Pointer NewModelFilter(const std::string& output, unsigned int scale, const ModelFilterType::SizeType& ef)
  {
    auto filter = ModelFilterType::New();
    filter->SetModel(m_Model);
    filter->SetFullyConvolutional(true);
    filter->SetPadBoundaries(true);
    filter->SetOutputTensors({m_Card.FindOutput(output)->tensor}); // the SavedModel's name of card output `output`
    filter->SetBackgroundValue(S2Nodata);
    filter->SetOutputSpacingScale(scale);
    ModelFilterType::SizeType tile;
    for (unsigned int dim = 0; dim < 2; ++dim)
      tile[dim] = ef[dim] / scale;
    filter->SetOutputExpressionField(tile);
    filter->SetProcessingTileSize(tile);
    // the tiles the image ends in computed on what is left of it (decloud::LastTile, as TileSize planned them)
    ModelFilterType::SizeType multiple;
    multiple.Fill(std::max(1u, std::max(1u, m_Card.spatialMultiple) / scale));
    filter->SetTileMultiple(multiple);
    for (const Source& source : m_Sources)
      filter->PushBackInputTensorBundle(source.tensor, source.receptiveField, source.image, source.hasNodata, source.nodata);
    for (const auto& date : m_Dates)
      filter->AddUserPlaceholder(date.first, date.second);
    return filter;
  }

  /** The 20 m output: a second pass of the network; nodata where the plan of the 10 m output says so. */
  void Setup20mOutput(unsigned int padding, const ModelFilterType::SizeType& ef, MaskType* plan)
  {
    const std::string output = decloud::ModelCard::CroppedOutput("s2_20m_target", padding);
    if (!m_Card.FindOutput(output))
      otbAppLogFATAL("out20m: model " << m_Card.name << " has no 20 m output (" << output << ")");
    if (ef[0] % 2 || ef[1] % 2)
      otbAppLogFATAL("out20m: the tiles (" << ef[0] << "x" << ef[1] << ") must have even sides");
    m_Filter20 = NewModelFilter(output, 2, ef);
    auto shrink = ShrinkType::New();
    shrink->SetInput(plan);
    shrink->SetShrinkFactors(2);
    m_Keep.push_back(shrink.GetPointer());
    m_Compose20 = ComposeType::New();
    m_Compose20->SetEstimate(m_Filter20->GetOutput());
    m_Compose20->SetPlan(shrink->GetOutput());
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
    SetParameterOutputImage("out20m", Tagged(m_Compose20->GetOutput(), OutputTagsOf(output)));
  }

  /** Run the network on the first tile now, so that a model/input mismatch fails before anything is written. */
  void ProbeFirstTile(ModelFilterType* filter)
  {
    const std::string error = decloud::ProbeFirstTile(*filter);
    if (!error.empty())
      otbAppLogFATAL("model: " << error);
  }

  decloud::ModelCard                                        m_Card;
  std::shared_ptr<tf::SavedModel>                           m_Model;
  bool                                                      m_ModelReused = false;
  std::vector<std::pair<const InputRole*, const decloud::CardInput*>> m_Used;
  std::vector<Source>                                       m_Sources;
  std::vector<std::pair<std::string, std::shared_ptr<TF_Tensor>>> m_Dates;
  ModelFilterType::Pointer                                  m_Filter;
  ComposeType::Pointer                                      m_Compose;
  PlanType::Pointer                                         m_Plan;
  ModelFilterType::Pointer                                  m_Filter20;
  ComposeType::Pointer                                      m_Compose20;
  decloud::OutputTags                                       m_Tags;     // of every output: date, model, note
  std::string                                               m_Note;     // e.g. B8A as the NIR band of s2.t
  std::string                                               m_S2tFile;  // the file s2.t is read from ("" if none)
  decloud::RasterFacts                                      m_S2tFacts; // what that file says about itself
};

} // namespace Wrapper
} // namespace otb

OTB_APPLICATION_EXPORT(otb::Wrapper::DecloudInfer)
