#include "otbDecloudModelSession.h"

#include <itksys/Directory.hxx>
#include <itksys/SystemTools.hxx>

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <list>
#include <mutex>
#include <sstream>

namespace otb
{
namespace decloud
{

tf::SessionOptions SessionOptionsFor(int intraOpThreads, int interOpThreads)
{
  tf::SessionOptions options;
  options.intraOpThreads = intraOpThreads;
  options.interOpThreads = interOpThreads;
  const char* graph = std::getenv("DECLOUD_GRAPH_OPTIMISATION");
  if (graph && *graph)
  {
    const std::string value(graph);
    if (value != "serving" && value != "tensorflow")
      throw std::runtime_error("DECLOUD_GRAPH_OPTIMISATION='" + value +
                               "' is not a graph optimisation (serving: the default, tensorflow: TensorFlow's own)");
    options.servingGraphOptimisation = value == "serving";
  }
  return options;
}

void CheckModelDirectory(const std::string& dir)
{
  if (!itksys::SystemTools::FileIsDirectory(dir))
    throw std::runtime_error("'" + dir + "' is not a directory");
}

namespace
{
/** Sessions LoadSavedModel keeps: DECLOUD_MODEL_CACHE, 2 by default; throws std::runtime_error on a bad value. */
size_t ModelCacheCapacity()
{
  const char* value = std::getenv("DECLOUD_MODEL_CACHE");
  if (!value || !*value)
    return 2;
  char*      end = nullptr;
  const long n = std::strtol(value, &end, 10);
  if (*end || n < 0)
    throw std::runtime_error(std::string("DECLOUD_MODEL_CACHE='") + value +
                             "' is not a number of models to keep (a whole number, 0: none)");
  return static_cast<size_t>(n);
}

/** Size, modification time and inode of the files that make the model (what changes when it is written again). */
std::string ModelStamp(const std::string& dir)
{
  std::vector<std::string> paths{dir + "/saved_model.pb", dir + "/saved_model.pbtxt", dir + "/fingerprint.pb"};
  itksys::Directory variables;
  if (variables.Load(dir + "/variables"))
    for (unsigned long i = 0; i < variables.GetNumberOfFiles(); ++i)
    {
      const std::string name = variables.GetFile(i);
      if (name != "." && name != "..")
        paths.push_back(dir + "/variables/" + name);
    }
  std::sort(paths.begin() + 3, paths.end());
  std::ostringstream stamp;
  for (const auto& path : paths)
  {
    struct stat st;
    if (stat(path.c_str(), &st) != 0)
      stamp << path << ":-;";
    else
      stamp << path << ":" << st.st_size << "," << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec << "," << st.st_ino
            << ";";
  }
  return stamp.str();
}

struct KeptModel
{
  std::string                     key;
  std::string                     stamp;
  std::shared_ptr<tf::SavedModel> model;
};

// Never destroyed: the sessions must not be closed by static destructors after TensorFlow's own are gone.
std::mutex&           KeptModelsMutex() { static auto* m = new std::mutex; return *m; }
std::list<KeptModel>& KeptModels() { static auto* l = new std::list<KeptModel>; return *l; }
} // namespace

std::shared_ptr<tf::SavedModel> LoadSavedModel(const std::string& dir, const std::vector<std::string>& tags,
                                               const tf::SessionOptions& options, SavedModelFiles files, bool* reused)
{
  if (reused)
    *reused = false;
  CheckModelDirectory(dir);
  if (!itksys::SystemTools::FileExists(dir + "/saved_model.pb") &&
      !(files == SavedModelFiles::BinaryOrText && itksys::SystemTools::FileExists(dir + "/saved_model.pbtxt")))
    throw std::runtime_error("'" + dir + "' holds no saved_model.pb (is it a TensorFlow SavedModel?)");
  const size_t capacity = ModelCacheCapacity();
  std::ostringstream keyStream;
  keyStream << dir << "\n" << tf::SerializeConfigProto(options);
  for (const auto& tag : tags)
    keyStream << "\n" << tag;
  const std::string key = keyStream.str();
  const std::string stamp = ModelStamp(dir);

  std::lock_guard<std::mutex> lock(KeptModelsMutex()); // one load at a time: two threads asking for one model load it once
  auto& kept = KeptModels();
  if (capacity == 0)
    kept.clear();
  for (auto it = kept.begin(); it != kept.end(); ++it)
    if (it->key == key)
    {
      if (it->stamp == stamp)
      {
        kept.splice(kept.begin(), kept, it); // most recently used first
        if (reused)
          *reused = true;
        return kept.front().model;
      }
      kept.erase(it); // written again since it was loaded
      break;
    }
  auto model = std::make_shared<tf::SavedModel>(dir, tags, options);
  model->GetServingSignature(); // throws when there is none to serve
  if (capacity > 0)
  {
    kept.push_front({key, stamp, model});
    while (kept.size() > capacity)
      kept.pop_back();
  }
  return model;
}

} // namespace decloud
} // namespace otb
