#include "otbDecloudModelSession.h"

#include <itksys/SystemTools.hxx>

namespace otb
{
namespace decloud
{

tf::SessionOptions SessionOptionsFor(int intraOpThreads, int interOpThreads)
{
  tf::SessionOptions options;
  options.intraOpThreads = intraOpThreads;
  options.interOpThreads = interOpThreads;
  return options;
}

void CheckModelDirectory(const std::string& dir)
{
  if (!itksys::SystemTools::FileIsDirectory(dir))
    throw std::runtime_error("'" + dir + "' is not a directory");
}

std::shared_ptr<tf::SavedModel> LoadSavedModel(const std::string& dir, const std::vector<std::string>& tags,
                                               const tf::SessionOptions& options, SavedModelFiles files)
{
  CheckModelDirectory(dir);
  if (!itksys::SystemTools::FileExists(dir + "/saved_model.pb") &&
      !(files == SavedModelFiles::BinaryOrText && itksys::SystemTools::FileExists(dir + "/saved_model.pbtxt")))
    throw std::runtime_error("'" + dir + "' holds no saved_model.pb (is it a TensorFlow SavedModel?)");
  auto model = std::make_shared<tf::SavedModel>(dir, tags, options);
  model->GetServingSignature(); // throws when there is none to serve
  return model;
}

} // namespace decloud
} // namespace otb
