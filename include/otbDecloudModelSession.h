/*
 * Decloud: the one way the applications that run a SavedModel (TensorflowModelServe, DecloudInfer) open it and
 * check it: the TensorFlow session options from their optim.intraop / optim.interop, the model folder's checks, the
 * SavedModel loaded with its serving signature resolved, and the first-tile probe that makes a model/input mismatch
 * fail before any output is written. The errors name no key: each app prefixes its own (model.dir, model), so that
 * the messages users see name the key they gave.
 */
#ifndef otbDecloudModelSession_h
#define otbDecloudModelSession_h

#include "OTBDecloudExport.h"

#include "itkMacro.h" // before otbDecloudExceptionMessage.h: ITK wants itkExceptionObject.h through it
#include "otbDecloudExceptionMessage.h"
#include "otbTensorflowCAPI.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace otb
{
namespace decloud
{

/**
 * The session options of the apps' optim.intraop and optim.interop: threads inside one operation, operations run
 * in parallel (0 or less: TensorFlow's choice); the GPU memory grows as needed (tf::SessionOptions' default); the
 * graph optimised for serving (tf::SessionOptions::servingGraphOptimisation) unless DECLOUD_GRAPH_OPTIMISATION is
 * "tensorflow" ("serving": the default). Throws std::runtime_error, naming the variable, on another value.
 */
OTBDecloud_EXPORT tf::SessionOptions SessionOptionsFor(int intraOpThreads, int interOpThreads);

/** SessionOptionsFor the app's optim.intraop and optim.interop (DecloudApplication::AddSessionThreadParameters). */
template <class TApplication>
tf::SessionOptions SessionOptionsOf(TApplication& app)
{
  return SessionOptionsFor(app.GetParameterInt("optim.intraop"), app.GetParameterInt("optim.interop"));
}

/** Throws std::runtime_error "'<dir>' is not a directory" when `dir` is not a folder. */
OTBDecloud_EXPORT void CheckModelDirectory(const std::string& dir);

/** The files that make a folder a SavedModel: saved_model.pb (DecloudInfer), or .pb or .pbtxt (OTBTF's app). */
enum class SavedModelFiles
{
  Binary,
  BinaryOrText
};

/** What the apps add to their "Model ..." log line when LoadSavedModel kept the session (`reused`), else "". */
inline const char* KeptSessionNote(bool reused)
{
  return reused ? " (its session kept from an earlier run in this process)" : "";
}

/**
 * The SavedModel in the folder `dir` (CheckModelDirectory first), its MetaGraph of `tags` loaded in a session with
 * `options` and its serving signature resolved. Throws std::runtime_error "'<dir>' holds no saved_model.pb (is it a
 * TensorFlow SavedModel?)" when the folder lacks the file `files` asks for, TensorFlow's message when it cannot load
 * the model, tf::SavedModel::GetServingSignature's when the model has no serving signature.
 *
 * Sessions are kept for the process (the models last loaded, DECLOUD_MODEL_CACHE of them, 2 by default, 0: none):
 * a process that runs the apps again and again on one model (pyotb, decloud timeseries, a Dask worker) loads it and
 * optimises its graph once, not on every run. A session is reused only for the same `dir` (as given), tags and
 * options, and while the model's files (saved_model.pb / .pbtxt, fingerprint.pb, variables/) have the same size,
 * modification time and inode as when it was loaded: a model written again in place is loaded again. `reused`, when
 * given, says whether the session was kept from an earlier call. Throws std::runtime_error when DECLOUD_MODEL_CACHE is
 * not a whole number >= 0.
 */
OTBDecloud_EXPORT std::shared_ptr<tf::SavedModel> LoadSavedModel(const std::string& dir, const std::vector<std::string>& tags,
                                                                 const tf::SessionOptions& options, SavedModelFiles files,
                                                                 bool* reused = nullptr);

/**
 * Runs a model filter (TensorflowMultisourceModelFilter) on its first grid cell now (ComputeFirstCell), so that a
 * model that fails on these inputs fails before a writer creates the output file, and keeps that tile's network
 * outputs for the writer's pass (the caller writes the output next, with the same inputs). Returns "" when it runs,
 * else "the model fails on the first tile: <the pipeline's message>" (an itk::ExceptionObject; anything else
 * propagates).
 */
template <class TModelFilter>
std::string ProbeFirstTile(TModelFilter& filter)
{
  try
  {
    filter.ComputeFirstCell(true);
  }
  catch (const itk::ExceptionObject& e)
  {
    return "the model fails on the first tile: " + ExceptionMessage(e);
  }
  return "";
}

/** "The network ran on N tiles (M of them by the first-tile probe, kept for the output)", for the apps' logs. */
template <class TModelFilter>
std::string NetworkRunsMessage(const TModelFilter& filter)
{
  return "The network ran on " + std::to_string(filter.GetNumberOfNetworkRuns()) + " tiles (" +
         std::to_string(filter.GetNumberOfReusedRuns()) + " of them by the first-tile probe, kept for the output)";
}

} // namespace decloud
} // namespace otb

#endif
