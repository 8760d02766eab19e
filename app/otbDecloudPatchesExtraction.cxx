/*
 * Decloud: DecloudPatchesExtraction -- patches at the same places of co-registered sources of different
 * resolutions, written as one patch stack per source (patches stacked vertically, OTBTF's layout).
 */
#include "otbWrapperApplicationFactory.h"
#include "otbWrapperDecloudApplication.h"

#include "otbDecloudAtomicOutput.h"
#include "otbDecloudExceptionMessage.h"
#include "otbPatchStackFilter.h"

#include <ogr_spatialref.h>
#include <ogrsf_frmts.h>

#include <cmath>
#include <sstream>

namespace otb
{
namespace Wrapper
{

class DecloudPatchesExtraction : public DecloudApplication
{
public:
  using Self = DecloudPatchesExtraction;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudPatchesExtraction, DecloudApplication);

private:
  using PatchFilterType = PatchStackFilter<FloatVectorImageType>;
  using Point = std::pair<double, double>; // upper-left corner of a patch, map coordinates

  void DoInit() override
  {
    SetName("DecloudPatchesExtraction");
    SetDescription("Extracts patches at the same places of co-registered sources of different resolutions.");
    SetDocLongDescription(
      "For each source image (e.g. a 10 m and a 20 m Sentinel-2 stack, S1, a DEM), writes the patches at the "
      "given places as one patch stack: patch k occupies rows [k*s, (k+1)*s) of an s x N*s image, s being the "
      "patch size in that source's pixels (patchsize x spacing of source 1 / spacing of the source). Places are "
      "patch upper-left corners in the map coordinates of source 1: from a vector file (polygon or line: upper-left "
      "corner of its envelope; point: the patch centre) and/or a list. Patches are read one at a time (the memory "
      "does not grow with the image or the number of patches). Outputs: <outprefix>_<i>.tif for source i.");
    SetDocLimitations("Sources must share the CRS of source 1; a patch must lie inside every source; patch sizes "
                      "must be whole numbers of pixels in every source. Outputs are written atomically: temporary "
                      "files beside them (.<name>.<pid>.tmp.tif), all renamed into place when every stack is "
                      "complete; a run killed with SIGKILL can leave such files behind, which can be deleted.");
    m_OutputKeys.clear(); // no output image parameter: the stacks are written here
    SetDocAuthors("Decloud developers");
    SetDocSeeAlso("OTBTF's PatchesExtraction");
    AddDocTag("Decloud"); // first: the group of the QGIS descriptors
    AddDocTag(Tags::Learning);

    AddParameter(ParameterType_InputImageList, "il", "Co-registered sources (source 1 is the reference grid)");
    AddParameter(ParameterType_Int, "patchsize", "Patch size in pixels of source 1");
    SetMinimumParameterIntValue("patchsize", 1);
    SetDefaultParameterInt("patchsize", 64);
    AddParameter(ParameterType_InputFilename, "vec", "Vector file of patch places (polygons: footprints; points: centres)");
    MandatoryOff("vec");
    AddParameter(ParameterType_StringList, "pos", "Patch upper-left corners as x,y map coordinates");
    MandatoryOff("pos");
    AddParameter(ParameterType_String, "outprefix", "Output prefix: writes <outprefix>_<i>.tif per source");
    AddRAMParameter();

    SetDocExampleParameterValue("il", "s2_10m.tif s2_20m.tif");
    SetDocExampleParameterValue("patchsize", "64");
    SetDocExampleParameterValue("vec", "patches.geojson");
    SetDocExampleParameterValue("outprefix", "patches/tile");
  }

  void DoUpdateParameters() override {}

  std::vector<Point> ReadVectorPlaces(const std::string& path, const std::string& imageWkt, double halfPatch)
  {
    GDALDataset* ds = static_cast<GDALDataset*>(GDALOpenEx(path.c_str(), GDAL_OF_VECTOR, nullptr, nullptr, nullptr));
    if (!ds)
      otbAppLogFATAL("vec: '" << path << "' cannot be opened as a vector file");
    std::vector<Point> places;
    OGRSpatialReference imageSrs;
    const bool          hasImageSrs = !imageWkt.empty() && imageSrs.importFromWkt(imageWkt.c_str()) == OGRERR_NONE;
    imageSrs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    for (int l = 0; l < ds->GetLayerCount(); ++l)
    {
      OGRLayer*                                   layer = ds->GetLayer(l);
      std::unique_ptr<OGRCoordinateTransformation> transform;
      const OGRSpatialReference*                  layerSrs = layer->GetSpatialRef();
      if (hasImageSrs && layerSrs && !layerSrs->IsSame(&imageSrs))
        transform.reset(OGRCreateCoordinateTransformation(layerSrs, &imageSrs));
      layer->ResetReading();
      while (OGRFeature* feature = layer->GetNextFeature())
      {
        OGRGeometry* geometry = feature->GetGeometryRef();
        if (geometry)
        {
          if (transform)
            geometry->transform(transform.get());
          if (wkbFlatten(geometry->getGeometryType()) == wkbPoint)
          {
            const auto* p = geometry->toPoint();
            places.emplace_back(p->getX() - halfPatch, p->getY() + halfPatch);
          }
          else
          {
            OGREnvelope env;
            geometry->getEnvelope(&env);
            places.emplace_back(env.MinX, env.MaxY);
          }
        }
        OGRFeature::DestroyFeature(feature);
      }
    }
    GDALClose(ds);
    return places;
  }

  std::string OutputOf(unsigned int source)
  {
    return GetParameterString("outprefix") + "_" + std::to_string(source + 1) + ".tif";
  }

  void DoExecute() override
  {
    FloatVectorImageListType* sources = GetParameterImageList("il");
    {
      std::vector<std::pair<std::string, std::string>> outputs;
      for (unsigned int i = 0; i < sources->Size(); ++i)
        outputs.emplace_back("outprefix (" + OutputOf(i) + ")", OutputOf(i));
      CheckOutputs(outputs);
    }
    if (sources->Size() == 0)
      otbAppLogFATAL("il: no source image given");
    FloatVectorImageType* reference = sources->GetNthElement(0);
    reference->UpdateOutputInformation();
    const double       refSpacing = reference->GetSpacing()[0];
    const unsigned int patchSize = GetParameterInt("patchsize");

    std::vector<Point> places;
    if (HasValue("vec"))
      places = ReadVectorPlaces(GetParameterString("vec"), reference->GetProjectionRef(), 0.5 * patchSize * refSpacing);
    if (HasValue("pos"))
      for (const auto& text : GetParameterStringList("pos"))
      {
        std::istringstream ss(text);
        double             x, y;
        char               comma;
        if (!(ss >> x >> comma >> y) || comma != ',')
          otbAppLogFATAL("pos: '" << text << "' is not of the form x,y");
        places.emplace_back(x, y);
      }
    if (places.empty())
      otbAppLogFATAL("vec, pos: no patch place given");
    otbAppLogINFO("" << places.size() << " patches of " << patchSize << " pixels of source 1");

    m_Filters.clear();
    for (unsigned int i = 0; i < sources->Size(); ++i)
    {
      FloatVectorImageType* image = sources->GetNthElement(i);
      image->UpdateOutputInformation();
      const std::string key = "il (source " + std::to_string(i + 1) + ")";
      if (i > 0 && !image->GetProjectionRef().empty() && !reference->GetProjectionRef().empty())
      {
        OGRSpatialReference a, b;
        a.importFromWkt(reference->GetProjectionRef().c_str());
        b.importFromWkt(image->GetProjectionRef().c_str());
        if (!a.IsSame(&b))
          otbAppLogFATAL("" << key << ": its CRS differs from source 1's");
      }
      const double spacing = image->GetSpacing()[0];
      const double size = patchSize * refSpacing / spacing;
      if (std::abs(size - std::round(size)) > 1e-6 || size < 1)
        otbAppLogFATAL("" << key << ": a patch of " << patchSize << " pixels at " << refSpacing << " is " << size
                           << " pixels at this source's spacing " << spacing << ", not a whole number");
      std::vector<FloatVectorImageType::IndexType> indices;
      for (const auto& p : places)
      {
        FloatVectorImageType::PointType centre; // centre of the upper-left pixel of the patch in this source
        centre[0] = p.first + 0.5 * spacing;
        centre[1] = p.second - 0.5 * spacing;
        FloatVectorImageType::IndexType index;
        image->TransformPhysicalPointToIndex(centre, index);
        indices.push_back(index);
      }
      PatchFilterType::Pointer filter = PatchFilterType::New();
      filter->SetInput(image);
      filter->SetPatchSize(static_cast<unsigned int>(std::round(size)));
      filter->SetPatchIndices(indices);
      try
      {
        filter->UpdateOutputInformation();
      }
      catch (const itk::ExceptionObject& e)
      {
        otbAppLogFATAL("" << key << ": " << ExceptionMessage(e));
      }
      m_Filters.push_back(filter);
    }

    // Everything is checked: write the patch stacks, one streamed writer per source, atomically (all renamed
    // into place once every stack is complete).
    decloud::AtomicOutputs files;
    for (unsigned int i = 0; i < m_Filters.size(); ++i)
    {
      const std::string out = OutputOf(i);
      const std::string temporary = files.Add(out);
      try
      {
        decloud::WriteImage(m_Filters[i]->GetOutput(), temporary + "?&gdal:co:TILED=YES", ImagePixelType_float,
                            static_cast<unsigned int>(std::max(0, GetParameterInt("ram"))),
                            [&](itk::ProcessObject* writer) { AddProcess(writer, "Patches of source " + std::to_string(i + 1)); });
      }
      catch (const std::exception& e)
      {
        otbAppLogFATAL("outprefix: " << out << " was not written (" << Untouched(out) << "): " << OneLine(e.what()));
      }
    }
    try
    {
      files.Commit();
    }
    catch (const std::exception& e)
    {
      otbAppLogFATAL("outprefix: " << OneLine(e.what()));
    }
    for (unsigned int i = 0; i < m_Filters.size(); ++i)
      otbAppLogINFO("Wrote " << OutputOf(i));
  }

  std::vector<PatchFilterType::Pointer> m_Filters;
};

} // namespace Wrapper
} // namespace otb

OTB_APPLICATION_EXPORT(otb::Wrapper::DecloudPatchesExtraction)
