/*
 * Decloud: the model card (card.json next to a SavedModel), read by the applications.
 */
#ifndef otbDecloudModelCard_h
#define otbDecloudModelCard_h

#include "OTBDecloudExport.h"

#include <string>
#include <vector>

namespace otb
{
namespace decloud
{

/** One model input: an image role (s2_t, s1_tm1, dem, s2_20m_t...) or a timestamp (s2_timestamp_t). */
struct CardInput
{
  std::string              role;
  std::string              sensor;
  bool                     timestamp = false;
  std::vector<std::string> bands;
  unsigned int             scale = 1; // pixel size relative to 10 m
  bool                     hasNodata = false;
  double                   nodata = 0.0;
};

struct CardOutput
{
  std::string              key;
  std::vector<std::string> bands;
  unsigned int             scale = 1;
};

/**
 * The card of a Decloud SavedModel (format 1, written by decloud.card.export_model). Read() throws
 * std::runtime_error with a message naming the file and what is wrong.
 */
struct OTBDecloud_EXPORT ModelCard
{
  std::string             path;
  std::string             name;
  std::string             network;
  std::vector<CardInput>  inputs;
  std::vector<CardOutput> outputs;
  unsigned int            spatialMultiple = 1;

  static ModelCard Read(const std::string& modelDir);

  const CardInput*  FindInput(const std::string& role) const;
  const CardOutput* FindOutput(const std::string& key) const;
  /** Name of `base` (e.g. s2_target) cropped by `padding` pixels on each side: base_crop<N>, or base for 0. */
  static std::string CroppedOutput(const std::string& base, unsigned int padding);
  /** Paddings offered for `base` (0 always, plus each crop output of the card). */
  std::vector<unsigned int> Paddings(const std::string& base) const;
};

} // namespace decloud
} // namespace otb

#endif
