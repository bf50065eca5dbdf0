"use client";

import { useQuery } from "convex/react";
import { api } from "@generated/api";

export function FileList() {
  const files = useQuery(api.files.listWithUrls, {});

  if (!files) return <div>Loading...</div>;

  return (
    <div>
      {files.map((file) => (
        <div key={file._id}>
          {file.type.startsWith("image/") ? (
            <img src={file.url} alt={file.name} />
          ) : (
            <a href={file.url} download={file.name}>
              {file.name}
            </a>
          )}
        </div>
      ))}
    </div>
  );
}
