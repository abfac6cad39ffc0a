/**
 * What a section's options change in its entries: the title from a property
 * of its own (`title`), and which properties index entries keep (`properties`).
 */
import { type NotionPage, pageTitle } from "../notion/types";
import { flattenValue, type SimpleValue } from "./properties";

export interface EntryOptions {
  /** The property holding the title; undefined: the data source's title property. */
  titleProperty?: string;
  /** Properties index entries keep; undefined: all. */
  properties?: string[];
}

/** A property's value as text (title, rich_text, formula, select…), trimmed; undefined when it has none. */
export function propertyText(page: NotionPage, name: string): string | undefined {
  const prop = page.properties?.[name];
  if (!prop) return undefined;
  const value = flattenValue(prop);
  const text = typeof value === "string" ? value.trim() : typeof value === "number" ? String(value) : "";
  return text || undefined;
}

/** The page's title: its title property, or the section's own (a property the page lacks gives the title property's). */
export function entryTitle(page: NotionPage, titleProperty?: string): string {
  if (!titleProperty || !page.properties?.[titleProperty]) return pageTitle(page);
  return propertyText(page, titleProperty) ?? "";
}

/** The flattened properties an index entry keeps. */
export function keptProperties(
  flat: Record<string, SimpleValue>,
  names: string[] | undefined,
): Record<string, SimpleValue> {
  if (!names) return flat;
  return Object.fromEntries(names.filter((n) => n in flat).map((n) => [n, flat[n]]));
}
