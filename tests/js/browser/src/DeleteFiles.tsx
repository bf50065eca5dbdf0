// Not from the seeds (their FileList has no delete button): each file with a button that
// calls the seed's deleteFile mutation.
import { useMutation, useQuery } from "convex/react";
import { api } from "@generated/api";

export function DeleteFiles() {
  const files = useQuery(api.files.listWithUrls, {});
  const deleteFile = useMutation(api.files.deleteFile);

  if (!files) return <div>Loading...</div>;

  return (
    <ul>
      {files.map((file) => (
        <li key={file._id}>
          {file.name}{" "}
          <button type="button" onClick={() => void deleteFile({ id: file._id })}>
            Delete {file.name}
          </button>
        </li>
      ))}
    </ul>
  );
}
