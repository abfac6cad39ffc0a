/**
 * A sequencer that starts each group's longest suites first (`longest`, in that order), then
 * follows vitest's own order. Without a results cache (a fresh clone, CI) vitest orders by file
 * size, which started the two-at-a-time group's builds late and left a core idle at its end.
 */
import { BaseSequencer, type TestSpecification } from "vitest/node";

export function longestFirst(longest: readonly string[]): typeof BaseSequencer {
  const rank = (spec: TestSpecification): number => {
    const at = longest.findIndex((file) => spec.moduleId.endsWith(`/${file}`));
    return at < 0 ? longest.length : at;
  };
  const group = (spec: TestSpecification) => spec.project.config.sequence.groupOrder;
  return class LongestFirst extends BaseSequencer {
    async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
      const sorted = await super.sort(files);
      // Stable: groups keep their order, the listed suites lead theirs, the rest keep vitest's order.
      return sorted
        .map((spec, index) => ({ spec, index }))
        .sort((a, b) => group(a.spec) - group(b.spec) || rank(a.spec) - rank(b.spec) || a.index - b.index)
        .map(({ spec }) => spec);
    }
  };
}
