/**
 * Image tier: the ECR repository and the service image built from api/Dockerfile with the repository root
 * as build context. Tasks run the image by digest (`imageUri` is `repo@sha256:...`), so a task definition
 * keeps pointing at exactly the bytes it was deployed with.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as awsx from '@pulumi/awsx';
import type { Settings } from './config.js';

/** Images kept whatever their tags: the running one and every rollback target of the last weeks. */
export const KEEP_IMAGES = 30;
/** Untagged images (left behind by a re-pushed tag or an interrupted push) are expired after this. */
export const UNTAGGED_EXPIRY_DAYS = 14;

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Build paths relative to the program's working directory, so the image's inputs (and its default tag,
 * which hashes them) are the same on every machine, wherever the repository is checked out.
 */
export function buildPaths(cwd: string = process.cwd()): { context: string; dockerfile: string } {
  const rel = (p: string) => path.relative(cwd, p).split(path.sep).join('/') || '.';
  return { context: rel(REPO_ROOT), dockerfile: rel(path.join(REPO_ROOT, 'api', 'Dockerfile')) };
}

export interface ImageTier {
  repository: awsx.ecr.Repository;
  image: awsx.ecr.Image;
}

export function createImageTier(settings: Settings): ImageTier {
  const repository = new awsx.ecr.Repository('api', {
    imageScanningConfiguration: { scanOnPush: true },
    // Tags are commit SHAs; a tag is only ever re-pushed with the same commit. Deployments use digests.
    imageTagMutability: 'MUTABLE',
    forceDelete: !settings.protectData,
    lifecyclePolicy: {
      rules: [
        {
          description: `Expire untagged images after ${UNTAGGED_EXPIRY_DAYS} days`,
          tagStatus: 'untagged',
          maximumAgeLimit: UNTAGGED_EXPIRY_DAYS,
        },
        {
          description: `Keep the ${KEEP_IMAGES} most recent images (running and rollback targets)`,
          tagStatus: 'any',
          maximumNumberOfImages: KEEP_IMAGES,
        },
      ],
    },
  });

  const image = new awsx.ecr.Image('api', {
    repositoryUrl: repository.url,
    ...buildPaths(),
    platform: settings.task.platform,
    ...(settings.imageTag ? { imageTag: settings.imageTag } : {}),
  });

  return { repository, image };
}
