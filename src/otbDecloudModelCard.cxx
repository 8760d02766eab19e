#include "otbDecloudModelCard.h"

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <algorithm>
#include <fstream>
#include <regex>
#include <stdexcept>

namespace otb
{
namespace decloud
{
namespace pt = boost::property_tree;

namespace
{
std::vector<std::string> StringList(const pt::ptree& node, const std::string& key)
{
  std::vector<std::string> values;
  if (auto child = node.get_child_optional(key))
    for (const auto& item : *child)
      values.push_back(item.second.get_value<std::string>());
  return values;
}
} // namespace

ModelCard ModelCard::Read(const std::string& modelDir)
{
  ModelCard card;
  card.path = modelDir + "/card.json";
  std::ifstream stream(card.path);
  if (!stream)
    throw std::runtime_error(modelDir + " has no model card (card.json): export the model with decloud (decloud train)");
  pt::ptree root;
  try
  {
    pt::read_json(stream, root);
    const int format = root.get<int>("format", 0);
    if (format != 1)
      throw std::runtime_error("card format " + std::to_string(format) + ", this Decloud reads format 1");
    card.name = root.get<std::string>("name", "");
    card.network = root.get<std::string>("network", "");
    card.spatialMultiple = root.get<unsigned int>("spatial_multiple", 1);
    if (auto holes = root.get_optional<std::string>("holes"))
    {
      if (*holes != "model")
        throw std::runtime_error("\"holes\": \"" + *holes + "\" is not known (\"model\" expected, or no key)");
      card.modelFillsHoles = true;
    }
    for (const auto& item : root.get_child("inputs"))
    {
      CardInput in;
      in.tensor = item.first;
      in.role = item.second.get<std::string>("role", item.first);
      for (const CardInput& other : card.inputs)
        if (other.role == in.role)
          throw std::runtime_error("inputs '" + other.tensor + "' and '" + in.tensor + "' both have role '" + in.role + "'");
      in.sensor = item.second.get<std::string>("sensor", "");
      const std::string kind = item.second.get<std::string>("kind", "image");
      if (kind != "image" && kind != "mask" && kind != "timestamp")
        throw std::runtime_error("input '" + in.role + "' has kind '" + kind + "' (image, mask or timestamp expected)");
      in.timestamp = kind == "timestamp";
      in.mask = kind == "mask";
      in.bands = StringList(item.second, "bands");
      in.scale = item.second.get<unsigned int>("scale", 1);
      auto nodata = item.second.get_optional<double>("nodata");
      if (nodata && !in.mask) // a mask has no nodata: its tiles are never skipped
      {
        in.hasNodata = true;
        in.nodata = *nodata;
      }
      if (!in.timestamp && in.bands.empty())
        throw std::runtime_error("input '" + in.role + "' lists no bands");
      if (in.scale != 1 && in.scale != 2)
        throw std::runtime_error("input '" + in.role + "' has scale " + std::to_string(in.scale) + " (1 or 2 expected)");
      card.inputs.push_back(in);
    }
    for (const auto& item : root.get_child("outputs"))
      card.outputs.push_back(CardOutput{item.first, StringList(item.second, "bands"), item.second.get<unsigned int>("scale", 1),
                                        item.second.get<std::string>("tensor", item.first)});
  }
  catch (const pt::ptree_error& e)
  {
    throw std::runtime_error(card.path + ": " + e.what());
  }
  catch (const std::runtime_error& e)
  {
    throw std::runtime_error(card.path + ": " + e.what());
  }
  if (card.inputs.empty() || card.outputs.empty())
    throw std::runtime_error(card.path + ": no inputs or no outputs");
  return card;
}

const CardInput* ModelCard::FindInput(const std::string& role) const
{
  auto it = std::find_if(inputs.begin(), inputs.end(), [&](const CardInput& in) { return in.role == role; });
  return it == inputs.end() ? nullptr : &*it;
}

const CardInput* ModelCard::FindTensor(const std::string& tensor) const
{
  auto it = std::find_if(inputs.begin(), inputs.end(), [&](const CardInput& in) { return in.tensor == tensor; });
  return it == inputs.end() ? nullptr : &*it;
}

const CardOutput* ModelCard::FindOutput(const std::string& key) const
{
  auto it = std::find_if(outputs.begin(), outputs.end(), [&](const CardOutput& out) { return out.key == key; });
  return it == outputs.end() ? nullptr : &*it;
}

std::string ModelCard::CroppedOutput(const std::string& base, unsigned int padding)
{
  return padding == 0 ? base : base + "_crop" + std::to_string(padding);
}

std::vector<unsigned int> ModelCard::Paddings(const std::string& base) const
{
  std::vector<unsigned int> paddings;
  if (FindOutput(base))
    paddings.push_back(0);
  const std::regex pattern("^" + base + "_crop([0-9]+)$");
  for (const auto& out : outputs)
  {
    std::smatch m;
    if (std::regex_match(out.key, m, pattern))
      paddings.push_back(static_cast<unsigned int>(std::stoul(m[1].str())));
  }
  std::sort(paddings.begin(), paddings.end());
  return paddings;
}

} // namespace decloud
} // namespace otb
