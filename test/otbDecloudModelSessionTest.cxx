/*
 * Unit test of src/otbDecloudModelSession.cxx, the model path TensorflowModelServe and DecloudInfer share, without a
 * model: the session options from the apps' thread counts and DECLOUD_GRAPH_OPTIMISATION, the ConfigProto they
 * make; the model folder's errors (not a folder, no saved_model.pb; saved_model.pbtxt accepted only where OTBTF's
 * app accepts it, TensorFlow's own error for a file it cannot load); the first-tile probe's message, on filters that
 * run, fail with an ITK error, or throw something else; tf::ScalarTensor, the date tensors DecloudInfer feeds a
 * model; the std::cerr a deep-bound TensorFlow writes to.
 * test/python/test_tensorflow_model_serve.py and test_decloud_infer.py run the apps on real and broken models.
 */
#include "otbDecloudUnitTest.h"
#include "otbDecloudModelSession.h"
#include "otbTensorflowCAPI.h"

#include "itkMacro.h"

#include <itksys/SystemTools.hxx>

#include <cstdint>
#include <dlfcn.h>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>

namespace
{
namespace decloud = otb::decloud;

using otb::decloud::unittest::Check;
using otb::decloud::unittest::CheckEqual;


/** The message LoadSavedModel throws for `dir` ("" when it loads). */
std::string LoadError(const std::string& dir, decloud::SavedModelFiles files)
{
  try
  {
    decloud::LoadSavedModel(dir, {"serve"}, decloud::SessionOptionsFor(1, 1), files);
  }
  catch (const std::exception& e)
  {
    return e.what();
  }
  return "";
}

std::string DirectoryError(const std::string& dir)
{
  try
  {
    decloud::CheckModelDirectory(dir);
  }
  catch (const std::runtime_error& e)
  {
    return e.what();
  }
  return "";
}

/** Stand-ins for TensorflowMultisourceModelFilter's ComputeFirstCell. */
struct RunningFilter
{
  int  calls = 0;
  bool kept = false;
  void ComputeFirstCell(bool keepForOutput)
  {
    ++calls;
    kept = keepForOutput;
  }
};
struct FailingFilter // as itkExceptionMacro words it in the filter
{
  void ComputeFirstCell(bool)
  {
    throw itk::ExceptionObject(__FILE__, __LINE__,
                               "itk::ERROR: FailingFilter(0x5581): Output 'y' has shape [1, 8, 8, 3] but 4 channels "
                               "were expected\n",
                               ITK_LOCATION);
  }
};
struct OtherErrorFilter
{
  void ComputeFirstCell(bool) { throw std::logic_error("not an ITK error"); }
};

void Touch(const std::string& path)
{
  std::ofstream(path) << "not a model\n";
}

} // namespace

int main(int argc, char* argv[])
{
  if (argc != 2)
  {
    std::cerr << "usage: " << argv[0] << " <scratch folder>\n";
    return EXIT_FAILURE;
  }
  const std::string root = argv[1];
  itksys::SystemTools::RemoveADirectory(root);
  itksys::SystemTools::MakeDirectory(root);

  // Session options: the thread counts as given (0: TensorFlow's choice), the GPU memory growing as needed.
  const otb::tf::SessionOptions threads = decloud::SessionOptionsFor(3, 2);
  Check(threads.intraOpThreads == 3 && threads.interOpThreads == 2, "optim.intraop 3, optim.interop 2");
  Check(threads.gpuMemoryGrowth, "the GPU memory grows as needed");
  const otb::tf::SessionOptions choice = decloud::SessionOptionsFor(0, 0);
  Check(choice.intraOpThreads == 0 && choice.interOpThreads == 0 && choice.gpuMemoryGrowth, "0 threads: TensorFlow's choice");
  Check(choice.servingGraphOptimisation, "Grappler's serving passes by default");
  // The bytes of Python's ConfigProto(intra_op_parallelism_threads=2, inter_op_parallelism_threads=1,
  // allow_soft_placement=True, gpu_options.allow_growth=True, graph_options.rewrite_options:
  // memory_optimization=NO_MEM_OPT, meta_optimizer_iterations=ONE, disable_tfg_optimizer=True)
  // .SerializeToString(deterministic=True), TensorFlow 2.19.
  const std::string serving("\x10\x02\x28\x01\x32\x02\x20\x01\x38\x01\x52\x09\x52\x07\x20\x01\x60\x01\x80\x02\x01", 21);
  CheckEqual(otb::tf::SerializeConfigProto(decloud::SessionOptionsFor(2, 1)), serving, "the serving session's ConfigProto");
  setenv("DECLOUD_GRAPH_OPTIMISATION", "tensorflow", 1);
  const otb::tf::SessionOptions defaults = decloud::SessionOptionsFor(2, 1);
  Check(!defaults.servingGraphOptimisation, "DECLOUD_GRAPH_OPTIMISATION=tensorflow: TensorFlow's graph optimisation");
  CheckEqual(otb::tf::SerializeConfigProto(defaults), serving.substr(0, 10), "TensorFlow's graph optimisation: no graph_options");
  setenv("DECLOUD_GRAPH_OPTIMISATION", "serving", 1);
  Check(decloud::SessionOptionsFor(2, 1).servingGraphOptimisation, "DECLOUD_GRAPH_OPTIMISATION=serving: the default");
  setenv("DECLOUD_GRAPH_OPTIMISATION", "fast", 1);
  std::string graphError;
  try
  {
    decloud::SessionOptionsFor(2, 1);
  }
  catch (const std::runtime_error& e)
  {
    graphError = e.what();
  }
  Check(graphError.find("DECLOUD_GRAPH_OPTIMISATION='fast'") != std::string::npos,
        "a bad DECLOUD_GRAPH_OPTIMISATION is refused, naming it: " + graphError);
  unsetenv("DECLOUD_GRAPH_OPTIMISATION");

  // The model folder.
  const std::string missing = root + "/missing";
  const std::string file = root + "/file.txt";
  Touch(file);
  const std::string empty = root + "/empty";
  itksys::SystemTools::MakeDirectory(empty);
  CheckEqual(DirectoryError(missing), "'" + missing + "' is not a directory", "a missing folder");
  CheckEqual(DirectoryError(file), "'" + file + "' is not a directory", "a file");
  CheckEqual(DirectoryError(empty), "", "a folder");
  for (auto files : {decloud::SavedModelFiles::Binary, decloud::SavedModelFiles::BinaryOrText})
  {
    CheckEqual(LoadError(missing, files), "'" + missing + "' is not a directory", "loading a missing folder");
    CheckEqual(LoadError(empty, files), "'" + empty + "' holds no saved_model.pb (is it a TensorFlow SavedModel?)",
               "loading an empty folder");
  }
  // saved_model.pbtxt: a SavedModel for TensorflowModelServe (as in OTBTF), not for DecloudInfer.
  const std::string text = root + "/text";
  itksys::SystemTools::MakeDirectory(text);
  Touch(text + "/saved_model.pbtxt");
  CheckEqual(LoadError(text, decloud::SavedModelFiles::Binary),
             "'" + text + "' holds no saved_model.pb (is it a TensorFlow SavedModel?)", "saved_model.pbtxt, binary only");
  const std::string textError = LoadError(text, decloud::SavedModelFiles::BinaryOrText);
  Check(!textError.empty() && textError.find("holds no saved_model.pb") == std::string::npos,
        "saved_model.pbtxt accepted, then TensorFlow's own error: '" + textError + "'");
  // A saved_model.pb TensorFlow cannot read: its error, thrown (no crash, no model).
  const std::string broken = root + "/broken";
  itksys::SystemTools::MakeDirectory(broken);
  Touch(broken + "/saved_model.pb");
  const std::string brokenError = LoadError(broken, decloud::SavedModelFiles::Binary);
  Check(!brokenError.empty() && brokenError.find("holds no saved_model.pb") == std::string::npos,
        "a broken saved_model.pb: TensorFlow's error: '" + brokenError + "'");

  // The first-tile probe.
  RunningFilter running;
  CheckEqual(decloud::ProbeFirstTile(running), "", "a model that runs");
  Check(running.calls == 1, "the first cell computed once");
  Check(running.kept, "the first cell's network outputs kept for the output");
  FailingFilter failing;
  CheckEqual(decloud::ProbeFirstTile(failing),
             "the model fails on the first tile: Output 'y' has shape [1, 8, 8, 3] but 4 channels were expected",
             "a model that fails: the message without ITK's prefix");
  OtherErrorFilter other;
  bool propagated = false;
  try
  {
    decloud::ProbeFirstTile(other);
  }
  catch (const std::logic_error&)
  {
    propagated = true;
  }
  Check(propagated, "an error that is not ITK's propagates");

  // Scalar tensors (the dates DecloudInfer feeds a model): shape [1], the value cast to the type; others refused.
  const otb::tf::TensorPtr seconds = otb::tf::ScalarTensor(TF_FLOAT, 1.5);
  Check(otb::tf::C().TensorType(seconds.get()) == TF_FLOAT, "a float32 scalar tensor is float32");
  CheckEqual(otb::tf::ShapeToString(otb::tf::TensorShape(seconds.get())), "[1]", "a float32 scalar tensor's shape");
  Check(*static_cast<const float*>(otb::tf::C().TensorData(seconds.get())) == 1.5f, "a float32 scalar tensor holds 1.5");
  const otb::tf::TensorPtr date = otb::tf::ScalarTensor(TF_INT64, 1718236800.0);
  Check(otb::tf::C().TensorType(date.get()) == TF_INT64, "an int64 scalar tensor is int64");
  CheckEqual(otb::tf::ShapeToString(otb::tf::TensorShape(date.get())), "[1]", "an int64 scalar tensor's shape");
  Check(*static_cast<const int64_t*>(otb::tf::C().TensorData(date.get())) == 1718236800,
        "an int64 scalar tensor holds 1718236800");
  bool refused = false;
  try
  {
    otb::tf::ScalarTensor(TF_STRING, 1);
  }
  catch (const std::runtime_error&)
  {
    refused = true;
  }
  Check(refused, "a string scalar tensor is refused (std::runtime_error)");

  // TensorFlow is loaded now (tf::C()), deep-bound in this executable, which names std::cerr and so holds its own
  // copy of it (COPY relocation): the std::cerr that TensorFlow writes to, libstdc++'s original, must work (before
  // it was constructed on the process's stream buffer, writing to it crashed: src/otbTensorflowCAPI.cxx).
  void* libstdcxx = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_NOLOAD);
  auto* tensorflowsCerr = static_cast<std::ostream*>(libstdcxx ? dlsym(libstdcxx, "_ZSt4cerr") : nullptr);
  Check(tensorflowsCerr != nullptr, "libstdc++'s std::cerr found");
  if (tensorflowsCerr)
  {
    std::cout << "this executable's std::cerr " << (tensorflowsCerr == &std::cerr ? "is" : "is not")
              << " libstdc++'s (which TensorFlow writes to)\n";
    *tensorflowsCerr << "(a line written through the std::cerr TensorFlow sees)\n";
    tensorflowsCerr->flush();
    Check(tensorflowsCerr->good(), "the std::cerr TensorFlow sees can be written to");
  }

  itksys::SystemTools::RemoveADirectory(root);
  return otb::decloud::unittest::Finish();
}
