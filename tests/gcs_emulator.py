"""A local GCS server for the tests: gcp-storage-emulator (PyPI), with the object generation headers that real GCS
sends on every media download (`x-goog-generation`, `x-goog-metageneration`; the emulator omits them, and
tensorstore, which orbax writes and reads arrays through, refuses a read without them).

python tests/gcs_emulator.py PORT BUCKET     (in memory; stops on SIGTERM)
"""
import functools
import sys

from gcp_storage_emulator import server
from gcp_storage_emulator.handlers import objects


def _with_generation(handler):
  @functools.wraps(handler)
  def wrapped(request, response, storage, *args, **kwargs):
    handler(request, response, storage, *args, **kwargs)
    try:
      obj = storage.get_file_obj(request.params["bucket_name"], request.params["object_id"])
    except Exception:  # noqa: BLE001 -- no such object: the handler has answered 404
      return
    if int(response.status) < 300 and "generation" in obj:
      response["x-goog-generation"] = str(obj["generation"])
      response["x-goog-metageneration"] = str(obj.get("metageneration", "1"))
  return wrapped


def patch() -> None:
  download = _with_generation(objects.download)
  for _, methods in server.HANDLERS:
    for verb, fn in list(methods.items()):
      if fn is objects.download:
        methods[verb] = download
  objects.download = download  # objects.get answers alt=media through it


if __name__ == "__main__":
  port, bucket = int(sys.argv[1]), sys.argv[2]
  patch()
  srv = server.create_server("localhost", port, in_memory=True, default_bucket=bucket)
  srv.run()
